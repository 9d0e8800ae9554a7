"""Wire-compatibility tests: the real upstream JS and Python clients against our server."""
