"""Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024, "Asymptotic theory of in-context learning by
linear attention": one module per registered figure (``fig1``–``fig6``); what the
linear-attention figures 1, 2 and 4 share (``common``: settings, theory wrapper, plot helpers)
and the claim checks of figures 1–4 (``claims``); the transformer figures' shared declarations
are in the ``transformer_*`` modules."""
