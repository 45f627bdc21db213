__version__ = '2.18.0'
short_version = __version__
