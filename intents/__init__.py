"""Data the bot and the case domain are built from: taxonomy, service catalog, NLU data, texts."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
