"""``{{ offer.body|offer_body }}``: the sanitised body, cleaned again as it is rendered;
``{{ offer|offer_reward }}``: what a redemption earns the customer, in plain words."""

from django import template

from exchanges.offers.text import body_html, reward_words

register = template.Library()
register.filter("offer_body", body_html)
register.filter("offer_reward", reward_words)
