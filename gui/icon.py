"""The application icon: resources/icons/llm-workbench.svg and the PNG sizes rendered from it.

    python -m gui.icon        # render the PNGs again after editing the SVG
"""
from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG = ICONS / "llm-workbench.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def png_path(size: int) -> Path:
    return ICONS / f"llm-workbench-{size}.png"


def app_icon():
    """A QIcon holding every PNG size (the SVG when no PNG is there)."""
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for size in SIZES:
        if png_path(size).is_file():
            icon.addFile(str(png_path(size)))
    if icon.isNull() and SVG.is_file():
        icon.addFile(str(SVG))
    return icon


def render_pngs(svg: Path = SVG, sizes: tuple[int, ...] = SIZES, folder: Path = ICONS) -> list[Path]:
    """Render the SVG to one PNG per size (needs a QGuiApplication)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    out = []
    for size in sizes:
        image = QImage(size, size, QImage.Format_ARGB32_Premultiplied)
        image.fill(Qt.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        path = folder / f"llm-workbench-{size}.png"
        if not image.save(str(path)):
            raise OSError(f"cannot write {path}")
        out.append(path)
    return out


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for path in render_pngs():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
