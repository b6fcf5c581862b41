"""``{{ chart|nonced:CSP_NONCE }}``: a server-drawn chart with this request's CSP nonce."""

from django import template

from ecosystem.dashboard.charts import nonced

register = template.Library()
register.filter("nonced", nonced)
