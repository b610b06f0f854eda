"""Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024, "Asymptotic theory of in-context learning by
linear attention": one module per registered figure (``fig1``–``fig6``), the settings, theory
wrapper and plot helpers the linear-attention figures share (``common``), and their claim
checks (``claims``)."""
