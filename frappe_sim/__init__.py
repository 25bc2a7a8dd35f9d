"""A small stand-in for a Frappe v15 site with the franchise app, for demos and tests.

It speaks Frappe's HTTP API and publishes Frappe's realtime messages as
../shared/frappe-contract.md describes, quirks included. The dashboard never imports it.
"""
