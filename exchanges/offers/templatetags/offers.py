"""``{{ offer.body|offer_body }}``: the sanitised body, cleaned again as it is rendered."""

from django import template

from exchanges.offers.text import body_html

register = template.Library()
register.filter("offer_body", body_html)
