"""Kernel backends: plain arrays in, plain arrays out; they know nothing of autograd or modes."""
