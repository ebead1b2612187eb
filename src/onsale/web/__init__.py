"""Pages for fans and venues: Jinja2 templates and plain JavaScript modules.

The pages call the public API only (API.md); no build step, no CDN: every
browser library is vendored under ``static/vendor`` with its licence.
"""
