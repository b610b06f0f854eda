"""Own experiments registered with iclab from outside the package (see fig1_rho05)."""
