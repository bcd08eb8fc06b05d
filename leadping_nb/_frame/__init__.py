"""Page bytes to the typed, checked Polars frame: `raw` reads JSON pages into raw
columns, `typed` casts them to the declared schema, `decode` is the public decoder
(`events_frame`). Imports only :mod:`leadping_nb._core`.
"""
