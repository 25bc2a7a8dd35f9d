"""Development helpers: a private Redis and `make demo`. Not part of the product."""
