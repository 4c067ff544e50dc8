"""Train a jaxcnn model and its PyTorch original side by side and compare them every epoch.

    python scripts/parity.py --arch lenet --epochs 1 --out runs/parity
    python scripts/parity.py --all --epochs 1 --data-dir mnist=../shared/data/mnist

Writes parity.json, parity.md and parity.png into --out (see jaxcnn/parity/cli.py).
"""

from jaxcnn.parity.cli import main

if __name__ == "__main__":
    main()
