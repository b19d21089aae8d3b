"""A plugin loaded by the test suite (as LINLI_PLUGINS would load one): handlers and jobs
that let the kernel's tests observe delivery."""
