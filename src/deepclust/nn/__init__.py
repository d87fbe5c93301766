"""The networks the methods train: the MLP and convolutional autoencoders."""
