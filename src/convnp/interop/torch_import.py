def from_torch(m): raise NotImplementedError
