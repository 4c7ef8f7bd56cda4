"""The tutorial's NumPy digits training script, with its layer functions taken from ``ops``.

The body is the tutorial's script as a user runs it (global ``np.random`` state, the same order of
random draws, the same dtypes); only the layer functions are looked up on ``ops`` instead of being
defined inline, so the same script can run on ``fastconv`` and on ``fastconv.reference``.
"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def run(ops, epochs=10, seed=0):
    """Train as the tutorial does after ``np.random.seed(seed)``; return (params, epoch_lines)."""
    np.random.seed(seed)
    digits = load_digits()
    X = digits.images.astype(np.float32) / 16.0
    y = digits.target
    X = X[..., np.newaxis]
    num_classes = 10
    Y = np.eye(num_classes)[y]
    X_train, X_val, Y_train, Y_val = train_test_split(X, Y, test_size=0.2, stratify=y)
    y_val_labels = Y_val.argmax(axis=1)

    w1 = np.random.randn(3, 3, 1, 8).astype(np.float32) * np.sqrt(2 / 9)
    b1 = np.zeros(8, dtype=np.float32)
    w2 = np.random.randn(4 * 4 * 8, num_classes).astype(np.float32) * np.sqrt(2 / 128)
    b2 = np.zeros(num_classes, dtype=np.float32)

    batch_size, lr = 64, 0.1
    num_train = X_train.shape[0]
    lines = []
    for ep in range(epochs):
        perm = np.random.permutation(num_train)
        X_train = X_train[perm]
        Y_train = Y_train[perm]
        for i in range(0, num_train, batch_size):
            xb = X_train[i : i + batch_size]
            yb = Y_train[i : i + batch_size]
            out1, c1 = ops.conv2d_forward(xb, w1, b1)
            out1r, c1r = ops.relu_forward(out1)
            out2, c2 = ops.maxpool_forward(out1r)
            flat, cf = ops.flatten_forward(out2)
            logits, c3 = ops.dense_forward(flat, w2, b2)
            loss, c4 = ops.softmax_crossentropy_forward(logits, yb)

            dlogits = ops.softmax_crossentropy_backward(c4)
            dflat, dw2, db2 = ops.dense_backward(dlogits, c3)
            dout2 = ops.flatten_backward(dflat, cf)
            dout1r = ops.maxpool_backward(dout2, c2)
            dout1 = ops.relu_backward(dout1r, c1r)
            _, dw1, db1 = ops.conv2d_backward(dout1, c1)

            w1 -= lr * dw1
            b1 -= lr * db1
            w2 -= lr * dw2
            b2 -= lr * db2

        out1, _ = ops.conv2d_forward(X_val, w1, b1)
        out1r, _ = ops.relu_forward(out1)
        out2, _ = ops.maxpool_forward(out1r)
        flat, _ = ops.flatten_forward(out2)
        logits, _ = ops.dense_forward(flat, w2, b2)
        preds = np.argmax(logits, axis=1)
        acc = (preds == y_val_labels).mean()
        lines.append(f"轮次 {ep+1}/{epochs}  损失={loss:.4f}  验证准确率={acc:.4f}")
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, lines
