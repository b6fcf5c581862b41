"""The operators' overviews: the ecosystem dashboard at /admin/ and a partner's overview in
its console. Part of the composition root: it reads every layer's aggregate selectors and
draws them; nothing below imports it."""
