#!/usr/bin/python3
# Writes the benchmark's peer: a jina-embeddings-v3-shaped ONNX encoder with random weights, quantized
# the way transformers.js "q8" models are (DynamicQuantizeLinear + MatMulInteger, per-channel int8
# weights, int8 word-embedding rows gathered, then dequantized), for onnxruntime-web to run.
#   /usr/bin/python3 scripts/bench/make-onnx-peer.py OUT.onnx [--layers 24]
# Needs Debian's python3-onnx and python3-numpy (apt-get install python3-onnx python3-numpy).
# Inputs input_ids, attention_mask: int64 [batch, seq]; output last_hidden_state: f32 [batch, seq, 1024].
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN, HEADS, FFN, VOCAB, MAX_POS, ROPE_BASE, EPS = 1024, 16, 4096, 250002, 8194, 10000.0, 1e-5
HEAD_DIM = HIDDEN // HEADS


class Graph:
    def __init__(self, seed):
        self.nodes, self.inits, self.rng, self.n = [], [], np.random.default_rng(seed), 0

    def name(self, stem):
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, array, stem="c"):
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, outputs=1, **attrs):
        outs = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if outputs == 1 else outs

    # y = x·W + b with W int8 per output channel, x quantized per call (what quantize_dynamic emits).
    def linear(self, x, k, n):
        w = self.rng.integers(-127, 128, size=(k, n), dtype=np.int8)  # [K, N]
        w_scale = np.full(n, 1.0 / (127 * np.sqrt(k / 3)), np.float32)  # keeps x·W near unit variance
        xq, xs, xz = self.op("DynamicQuantizeLinear", [x], outputs=3)
        acc = self.op("MatMulInteger", [xq, self.const(w, "w"), xz, self.const(np.zeros(n, np.int8), "wz")])
        scale = self.op("Mul", [xs, self.const(w_scale, "ws")])
        y = self.op("Mul", [self.op("Cast", [acc], to=TensorProto.FLOAT), scale])
        return self.op("Add", [y, self.const(self.rng.normal(0, 0.02, n).astype(np.float32), "b")])

    def layer_norm(self, x):
        gamma = self.const(np.ones(HIDDEN, np.float32), "ln_g")
        beta = self.const(np.zeros(HIDDEN, np.float32), "ln_b")
        return self.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=EPS)


def build(layers, seed):
    g = Graph(seed)
    ids, mask = "input_ids", "attention_mask"
    i64 = lambda *v: g.const(np.array(v, np.int64), "shape")

    # Embeddings: int8 table [V, d] with one scale, dequantized then gathered; token type 0 row; LayerNorm.
    table = g.rng.integers(-127, 128, size=(VOCAB, HIDDEN), dtype=np.int8)
    # The int8 rows are gathered first and only they are dequantized, as transformers.js q8 models
    # do: dequantizing the whole table before the Gather would write ~1 GB of f32 on every call.
    rows = g.op("Gather", [g.const(table, "word"), ids], axis=0)
    x = g.op("DequantizeLinear", [rows, g.const(np.float32(0.08 / 127), "word_s"), g.const(np.int8(0), "word_z")])
    x = g.op("Add", [x, g.const(g.rng.normal(0, 0.02, HIDDEN).astype(np.float32), "tok_type")])
    x = g.layer_norm(x)  # [B, S, d]

    # Rotary tables cut to the sequence length: [S, dh] (rotate-half layout, halves repeated).
    inv_freq = 1.0 / ROPE_BASE ** (np.arange(0, HEAD_DIM, 2, dtype=np.float32) / HEAD_DIM)
    angles = np.outer(np.arange(MAX_POS, dtype=np.float32), inv_freq)
    angles = np.concatenate([angles, angles], axis=1)
    seq = g.op("Gather", [g.op("Shape", [ids]), i64(1)], axis=0)  # [1]
    cut = lambda t: g.op("Slice", [g.const(t.astype(np.float32), "rope"), i64(0), seq, i64(0)])
    cos, sin = cut(np.cos(angles)), cut(np.sin(angles))
    half = HEAD_DIM // 2

    def rotate(t):  # t: [B, H, S, dh]
        a = g.op("Slice", [t, i64(0), i64(half), i64(3)])
        b = g.op("Slice", [t, i64(half), i64(HEAD_DIM), i64(3)])
        rot = g.op("Concat", [g.op("Neg", [b]), a], axis=3)
        return g.op("Add", [g.op("Mul", [t, cos]), g.op("Mul", [rot, sin])])

    # Additive mask [B, 1, 1, S]: 0 for tokens, -10000 for padding.
    m = g.op("Cast", [mask], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const(np.float32(1)), m]), g.const(np.float32(-10000.0))])
    bias = g.op("Unsqueeze", [bias, i64(1, 2)])
    split_heads = i64(0, 0, 3, HEADS, HEAD_DIM)
    merge_heads = i64(0, 0, HIDDEN)

    for _ in range(layers):
        qkv = g.op("Reshape", [g.linear(x, HIDDEN, 3 * HIDDEN), split_heads])  # [B, S, 3, H, dh]
        q, k, v = g.op("Split", [qkv, i64(1, 1, 1)], outputs=3, axis=2)
        heads = lambda t: g.op("Transpose", [g.op("Squeeze", [t, i64(2)])], perm=[0, 2, 1, 3])  # [B, H, S, dh]
        q, k, v = rotate(heads(q)), rotate(heads(k)), heads(v)
        scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])  # [B, H, S, S]
        scores = g.op("Add", [g.op("Mul", [scores, g.const(np.float32(1 / np.sqrt(HEAD_DIM)))]), bias])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])  # [B, H, S, dh]
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_heads])
        x = g.layer_norm(g.op("Add", [x, g.linear(ctx, HIDDEN, HIDDEN)]))
        h = g.linear(x, HIDDEN, FFN)
        gelu = g.op("Mul", [g.op("Mul", [h, g.const(np.float32(0.5))]),
                            g.op("Add", [g.op("Erf", [g.op("Div", [h, g.const(np.float32(np.sqrt(2)))])]),
                                         g.const(np.float32(1))])])
        x = g.layer_norm(g.op("Add", [x, g.linear(gelu, FFN, HIDDEN)]))

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in (ids, mask)]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])
    graph = helper.make_graph(g.nodes, "jina_v3_shaped_q8", inputs, [output], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()
    model = build(a.layers, a.seed)
    onnx.checker.check_model(model)  # in memory: the full model is below protobuf's 2 GB limit
    onnx.save(model, a.out)


if __name__ == "__main__":
    main()
