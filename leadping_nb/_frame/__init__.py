"""Page bytes to the typed, checked Polars frame (docs/frame.md): `decode` is the public
decoder (`events_frame`), `raw` reads JSON pages into raw columns, `typed` casts them to the
declared schema; `page`, `counts`, `exact`, `batch` and `report` hold their parts. Imports
only :mod:`leadping_nb._core`.
"""
