"""Where the desktop keeps its files: ``$ATR_DESKTOP_HOME`` or Qt's app data folder."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QStandardPaths

HOME_ENV = "ATR_DESKTOP_HOME"
APP_NAME = "atr-desktop"
ORG_NAME = "apache"


def set_application_names() -> None:
    """Name the application so Qt's standard paths and settings use our folder."""
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORG_NAME)


def data_dir() -> Path:
    """The folder holding keys and settings; ``$ATR_DESKTOP_HOME`` wins (tests, portable use)."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    if QCoreApplication.applicationName() != APP_NAME:
        set_application_names()
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    if not location:  # pragma: no cover - Qt always answers on desktop platforms
        return Path.home() / f".{APP_NAME}"
    return Path(location)
