"""Command-line parsing: launch the TUI, or run one of the headless commands.

One argparse parser with a subparser per command; the global options (``--device``,
``--workspace``) are accepted before or after the command. Parsing must stay fast and must
not import torch or textual: ``dltui --help`` answers at once, and the TUI paints its first
frame before torch has finished importing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from tui import __version__


class UsageError(Exception):
    """Bad input on the command line: printed as one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (not the usage block), exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # On the subparsers the defaults are SUPPRESS, so an option given before the command is
    # not reset by the subparser's own default when it is absent after the command.
    parser.add_argument(
        "--device",
        metavar="DEV",
        default=argparse.SUPPRESS if suppress else None,
        help="default device, bound to `device` in the REPL and used for training "
        "(default: cuda if available, else mps, else cpu)",
    )
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=argparse.SUPPRESS if suppress else ".",
        help="folder for runs/ and exported files (default: the current folder)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the TUI's options and one subparser per headless command."""
    parser = _Parser(
        prog="dltui",
        description=(
            "A terminal application for exploring PyTorch: a tensor REPL with a "
            "shape/dtype/device inspector, a layer-stack builder and a training monitor. "
            "Without a command, the TUI opens."
        ),
    )
    parser.add_argument("--version", action="version", version=f"dltui {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("summary", help="print the layer table of a stack spec")
    p.add_argument("spec", metavar="SPEC.json")
    p.add_argument(
        "--input",
        metavar="SHAPE",
        default=None,
        help="input shape without the batch dimension, e.g. 1,28,28 (default: the spec's)",
    )
    _global_options(p, suppress=True)

    p = sub.add_parser("export", help="print PyTorch code that rebuilds a stack spec")
    p.add_argument("spec", metavar="SPEC.json")
    _global_options(p, suppress=True)

    p = sub.add_parser(
        "train",
        help="train a stack spec headless into a run directory (or --resume one)",
        usage="dltui train SPEC.json --data DATA [options] | dltui train --resume RUN_DIR",
    )
    # Both optional here: ``--resume RUN_DIR`` takes them from the run's config.json;
    # tui.commands.train asks for them otherwise, in argparse's words.
    p.add_argument("spec", metavar="SPEC.json", nargs="?", default=None)
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a stopped or crashed run from its last checkpoint (with its own "
        "spec, data and settings; --epochs, --device, --num-threads may change)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="DATA",
        help="spirals|moons|circles|xor|sine|linear[:k=v,...], or a .csv/.npz/.npy file "
        "or a folder of MNIST IDX files",
    )
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--optimizer", default=None, help="sgd | adam | adamw")
    p.add_argument("--loss", default=None, help="cross_entropy | mse | bce_with_logits | l1")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--val-split", type=float, default=None, help="validation fraction (0.2)")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--momentum", type=float, default=None, help="SGD momentum (0.9)")
    p.add_argument("--grad-clip", type=float, default=None, help="max gradient norm")
    p.add_argument(
        "--num-threads", type=int, default=None, help="torch intra-op threads (default: cpus-1)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="DataLoader worker processes for a Dataset that is not tensor-backed "
        "(default: from the machine's cores; 0 reads in the training thread)",
    )
    p.add_argument(
        "--detect-anomaly",
        dest="detect_anomaly",
        action="store_const",
        const=True,
        default=None,
        help="look at the loss and the gradients after every step on a GPU too (one sync "
        "a step), so the NaN report starts at the very step that went wrong",
    )
    p.add_argument(
        "--precision",
        default=None,
        help="32 | bf16 | fp16: mixed precision with autocast (fp16 with loss scaling, "
        "on a GPU; bf16 also on the CPU)",
    )
    p.add_argument(
        "--compile",
        dest="compile",
        action="store_const",
        const=True,
        default=None,
        help="torch.compile the model for training",
    )
    p.add_argument(
        "--schedule",
        default=None,
        help="learning-rate schedule: constant | step | cosine | onecycle (constant)",
    )
    p.add_argument(
        "--warmup-steps", type=int, default=None, metavar="N", help="linear lr warm-up (0)"
    )
    p.add_argument(
        "--step-epochs",
        type=int,
        default=None,
        metavar="N",
        help="step schedule: every N epochs (10)",
    )
    p.add_argument(
        "--gamma", type=float, default=None, help="step schedule: multiply the lr by this (0.1)"
    )
    p.add_argument(
        "--eval-interval",
        type=float,
        default=None,
        metavar="S",
        help="validate and checkpoint at an epoch's end at most every S seconds (2; 0 = "
        "every epoch; the last epoch always)",
    )
    p.add_argument(
        "--no-tf32",
        dest="tf32",
        action="store_const",
        const=False,
        default=None,
        help="CUDA: full float32 matmuls and convolutions (TF32 is allowed by default)",
    )
    p.add_argument(
        "--no-cudnn-benchmark",
        dest="cudnn_benchmark",
        action="store_const",
        const=False,
        default=None,
        help="CUDA: no cuDNN autotuning of convolutions (on by default)",
    )
    p.add_argument("--run-dir", default=None, metavar="DIR", help="default: runs/<name>")
    _global_options(p, suppress=True)

    p = sub.add_parser(
        "watch",
        help="open the monitor on runs written by other processes: dltui runs, "
        "TensorBoard event files, Lightning metrics.csv, or folders of them",
    )
    p.add_argument(
        "paths",
        metavar="PATH",
        nargs="+",
        help="a dltui run directory, a folder of runs (runs/, a TensorBoard log dir, "
        "lightning_logs/), an events.out.tfevents.* file or a metrics.csv",
    )
    _global_options(p, suppress=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run dltui with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version and parse errors end here
        return int(exc.code or 0)
    try:
        return _run(args)
    except UsageError as exc:
        print(f"dltui: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "summary":
        from tui.commands.summary import run as run_summary_command

        return run_summary_command(args.spec, args.input)
    if args.command == "export":
        from tui.commands.export import run as run_export_command

        return run_export_command(args.spec)
    if args.command == "train":
        from tui.commands.train import run_train_command

        return run_train_command(args)
    if args.command == "watch":
        from tui.commands.watch import check_watch_paths

        error = check_watch_paths(args.paths)
        if error is not None:
            raise UsageError(error)
        return _run_tui(args, watch=list(args.paths))
    return _run_tui(args)


def _run_tui(args: argparse.Namespace, watch: list[str] | None = None) -> int:
    from tui.app import DltuiApp

    app = DltuiApp(device=args.device, workspace=args.workspace, watch=watch)
    app.run()
    return app.return_code or 0
