"""What the model fixtures share: llama.cpp's q/k row pairing for its RoPE (its converter's permute),
over whole heads or over the rotated rows only (partial rotary)."""

def llama_permute(w, n_head):
    """llama.cpp's converter: rows of each head reordered from rotate-half to interleaved pairs."""
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def partial_permute(w, n_head, rot):
    """llama.cpp's pairwise RoPE over the first `rot` rows of each head only (Bamba's partial rotary):
    those rows as llama_permute orders a head of `rot` rows, the rest of the head as they are."""
    rows, cols = w.shape
    hd = rows // n_head
    h = w.reshape(n_head, hd, cols).copy()
    h[:, :rot] = llama_permute(h[:, :rot].reshape(n_head * rot, cols), n_head).reshape(n_head, rot, cols)
    return h.reshape(rows, cols)
