"""Command-line parsing: launch the TUI, or run one of the headless commands.

Parsing must stay fast and must not import torch or textual: ``dltui --help`` answers at
once, and the TUI paints its first frame before torch has finished importing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tui import __version__

SUBCOMMANDS = ("summary", "export", "train", "watch")


class UsageError(Exception):
    """Bad input on the command line: printed as one line on stderr, exit code 2."""


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dltui",
        description=(
            "A terminal application for exploring PyTorch: a tensor REPL with a "
            "shape/dtype/device inspector, a layer-stack builder and a training monitor."
        ),
        epilog=(
            "headless commands: dltui summary SPEC.json [--input SHAPE] | "
            "dltui export SPEC.json | dltui train SPEC.json --data DATA [...] | "
            "dltui watch RUN_DIR  (dltui COMMAND --help for each)"
        ),
    )
    parser.add_argument("--version", action="version", version=f"dltui {__version__}")
    parser.add_argument(
        "--device",
        metavar="DEV",
        default=None,
        help="default device, bound to `device` in the REPL "
        "(default: cuda if available, else mps, else cpu)",
    )
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=".",
        help="folder for runs/ and exported files (default: the current folder)",
    )
    return parser


def _sub_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dltui")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="print the layer table of a stack spec")
    p.add_argument("spec", metavar="SPEC.json")
    p.add_argument(
        "--input",
        metavar="SHAPE",
        default=None,
        help="input shape without the batch dimension, e.g. 1,28,28 (default: the spec's)",
    )

    p = sub.add_parser("export", help="print PyTorch code that rebuilds a stack spec")
    p.add_argument("spec", metavar="SPEC.json")

    p = sub.add_parser("train", help="train a stack spec headless into a run directory")
    p.add_argument("spec", metavar="SPEC.json")
    p.add_argument(
        "--data",
        required=True,
        metavar="DATA",
        help="spirals|moons|circles|xor|sine|linear[:k=v,...], or a .csv/.npz/.npy file "
        "or a folder of MNIST IDX files",
    )
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--optimizer", default=None, help="sgd | adam | adamw")
    p.add_argument("--loss", default=None, help="cross_entropy | mse | bce_with_logits | l1")
    p.add_argument("--device", default=None, metavar="DEV")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--val-split", type=float, default=None, help="validation fraction (0.2)")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--momentum", type=float, default=None, help="SGD momentum (0.9)")
    p.add_argument("--grad-clip", type=float, default=None, help="max gradient norm")
    p.add_argument(
        "--num-threads", type=int, default=None, help="torch intra-op threads (default: cpus-1)"
    )
    p.add_argument("--run-dir", default=None, metavar="DIR", help="default: runs/<name>")
    p.add_argument("--workspace", default=".", metavar="DIR")

    p = sub.add_parser("watch", help="open the monitor on a run written by another process")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--workspace", default=".", metavar="DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run dltui with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    try:
        if command in SUBCOMMANDS and args_list and args_list[0] == command:
            args = _sub_parser().parse_args(args_list)
            return _run_subcommand(args)
        args = _top_parser().parse_args(args_list)
        return _run_tui(args)
    except UsageError as exc:
        print(f"dltui: error: {exc}", file=sys.stderr)
        return 2


def _run_subcommand(args: argparse.Namespace) -> int:
    if args.command == "summary":
        from tui.core.builder.spec import run_summary_command

        return run_summary_command(args.spec, args.input)
    if args.command == "export":
        from tui.core.builder.spec import run_export_command

        return run_export_command(args.spec)
    if args.command == "train":
        from tui.commands.train import run_train_command

        return run_train_command(args)
    if args.command == "watch":
        return _run_tui(args, watch=args.run_dir)
    raise UsageError(f"unknown command {args.command!r}")


def _run_tui(args: argparse.Namespace, watch: str | None = None) -> int:
    from tui.app import DltuiApp

    app = DltuiApp(
        device=getattr(args, "device", None),
        workspace=args.workspace,
        watch=watch,
    )
    app.run()
    return app.return_code or 0
