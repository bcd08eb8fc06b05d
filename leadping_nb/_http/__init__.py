"""The request: the query model (`query`), the wire values (`wire`) and the one module
that imports httpx (`transport`). Imports only :mod:`leadping_nb._core`.
"""
