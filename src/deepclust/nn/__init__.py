"""The networks the methods train (the MLP and convolutional autoencoders, ...), and the builder that rebuilds a saved one from its config (:mod:`deepclust.nn.build`)."""
