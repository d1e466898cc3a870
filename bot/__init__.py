"""The conversation core: normalise → understand → dialogue step. Pure: no I/O, no clock."""
