"""``awsomechat embedder export-onnx``: convert the packaged MiniLM weights for ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import typer

from awsomechat.cli.common import console, handled, settings

app = typer.Typer(help="The sentence embedder's model files.", no_args_is_help=True)


@app.command("export-onnx")
def export_onnx_command(
    out: Path | None = typer.Option(None, "--out", help="file to write (default: embedder.onnx_path)"),
    force: bool = typer.Option(False, "--force", help="convert again even if the file exists"),
) -> None:
    """Convert the packaged all-MiniLM-L6-v2 PyTorch weights to ONNX, locally (nothing downloaded).

    Used by `embedder.runtime = "onnx"`; scripts/install.sh runs it. Needs torch and onnx once.
    """
    from awsomechat.embed.onnx_export import default_onnx_path, export_minilm_onnx

    with handled():
        s = settings()
        path = out or s.embedder.onnx_path or default_onnx_path(s.data_dir)
        if path.is_file() and not force:
            console.print(f"{path} exists (--force converts again)", highlight=False)
            return
        export_minilm_onnx(path)
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB)", highlight=False)
