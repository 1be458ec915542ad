#!/usr/bin/env python3
"""Convert Real-ESRGAN's ncnn models (realesrgan-x4plus, RRDBNet; realesr-animevideov3,
SRVGGNetCompact) to ONNX.

    ncnn2onnx.py MODEL.param MODEL.bin OUT.onnx

Standard library only (no numpy, no onnx package): the ncnn model is a plain layer list —
Input, Split, Convolution (3x3, fp16 weights tagged 0x01306B47, fp32 bias, optionally a fused
leaky ReLU), Concat, Eltwise (weighted sum), PReLU (fp32 slopes), PixelShuffle, Interp
(nearest), BinaryOp add — and ONNX is a protobuf, written here
field by field. The output is deterministic: the same inputs give the same bytes, so `make
deps` checks its SHA-256 like any downloaded file.

The graph takes `input` [1, 3, H, W] float32 in 0..1 and gives `output` [1, 3, 4H, 4W]: the
network's residual added to the nearest-neighbour upscale of the input, as the ncnn model does.
Only the 4x model is converted; the x2/x3 ncnn files are the same weights followed by a
bicubic downscale, which Refract does with libvips.
"""
import struct
import sys


# --- protobuf wire format -------------------------------------------------------------------

def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint((field << 3) | wire)


def f_int(field, n):
    return key(field, 0) + varint(n)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return key(field, 2) + varint(len(data)) + data


def f_float(field, x):
    return key(field, 5) + struct.pack('<f', x)


# --- ONNX messages (field numbers from onnx.proto) ------------------------------------------

FLOAT, INT64 = 1, 7
ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_INTS = 1, 2, 3, 7


def attr_int(name, v):
    return f_bytes(1, name) + f_int(3, v) + f_int(20, ATTR_INT)


def attr_float(name, v):
    return f_bytes(1, name) + f_float(2, v) + f_int(20, ATTR_FLOAT)


def attr_ints(name, vs):
    return f_bytes(1, name) + b''.join(f_int(8, v) for v in vs) + f_int(20, ATTR_INTS)


def attr_string(name, s):
    return f_bytes(1, name) + f_bytes(4, s) + f_int(20, ATTR_STRING)


def node(op, inputs, outputs, name, attrs=()):
    body = b''.join(f_bytes(1, i) for i in inputs)
    body += b''.join(f_bytes(2, o) for o in outputs)
    body += f_bytes(3, name) + f_bytes(4, op)
    body += b''.join(f_bytes(5, a) for a in attrs)
    return body


def tensor(name, dims, floats=None, int64s=None):
    body = b''.join(f_int(1, d) for d in dims)
    if floats is not None:
        body += f_int(2, FLOAT) + f_bytes(8, name) + f_bytes(9, struct.pack('<%df' % len(floats), *floats))
    else:
        body += f_int(2, INT64) + f_bytes(8, name) + f_bytes(9, struct.pack('<%dq' % len(int64s), *int64s))
    return body


def value_info(name, dims):
    dim = b''.join(f_bytes(1, f_int(1, d) if isinstance(d, int) else f_bytes(2, d)) for d in dims)
    tensor_type = f_int(1, FLOAT) + f_bytes(2, dim)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, tensor_type))


# --- ncnn ----------------------------------------------------------------------------------

def parse_param(path):
    with open(path) as f:
        lines = [l.split() for l in f.read().splitlines() if l.strip()]
    assert lines[0] == ['7767517'], 'not an ncnn param file'
    layers = []
    for parts in lines[2:]:
        kind, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
        ins = parts[4:4 + n_in]
        outs = parts[4 + n_in:4 + n_in + n_out]
        params = dict(p.split('=', 1) for p in parts[4 + n_in + n_out:])
        layers.append((kind, name, ins, outs, params))
    return layers


class Blob:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        chunk = self.data[self.at:self.at + n]
        assert len(chunk) == n, 'ncnn bin ends early'
        self.at += n
        return chunk

    def weights(self, count):
        tag = struct.unpack('<I', self.take(4))[0]
        if tag == 0x01306B47:
            return list(struct.unpack('<%de' % count, self.take(2 * count)))
        assert tag == 0, 'unsupported ncnn weight tag %#x' % tag
        return list(struct.unpack('<%df' % count, self.take(4 * count)))

    def floats(self, count):
        return list(struct.unpack('<%df' % count, self.take(4 * count)))


def name_of(path):
    return path.rsplit('/', 1)[-1].rsplit('.', 1)[0]


def convert(param_path, bin_path, out_path):
    layers = parse_param(param_path)
    with open(bin_path, 'rb') as f:
        blob = Blob(f.read())
    nodes, inits = [], []
    rename = {}  # ncnn blob name -> ONNX value name (Split's outputs are its input)
    channels = 3
    output = None
    for kind, name, ins, layer_outs, params in layers:
        outs = layer_outs
        ins = [rename.get(i, i) for i in ins]
        # ncnn's blob names, prefixed: the graph's own input and output names stay free.
        for o in outs:
            rename.setdefault(o, 't_' + o)
        outs = [rename[o] for o in outs]
        if kind == 'Input':
            rename[layer_outs[0]] = 'input'
        elif kind == 'Split':
            for o in layer_outs:
                rename[o] = ins[0]
        elif kind == 'Convolution':
            out_c, k = int(params['0']), int(params['1'])
            assert params.get('4', '0') == '1' and params.get('5') == '1' and k == 3
            count = int(params['6'])
            in_c = count // (out_c * k * k)
            assert count == out_c * in_c * k * k
            w = blob.weights(count)
            b = blob.floats(out_c)
            inits.append(tensor(name + '.w', [out_c, in_c, k, k], floats=w))
            inits.append(tensor(name + '.b', [out_c], floats=b))
            act = params.get('9', '0')
            conv_out = outs if act == '0' else [outs[0] + '.conv']
            nodes.append(node('Conv', [ins[0], name + '.w', name + '.b'], conv_out, name,
                              [attr_ints('kernel_shape', [k, k]), attr_ints('pads', [1, 1, 1, 1])]))
            if act == '2':  # leaky ReLU, slope in -23310=1,slope
                slope = float(params['-23310'].split(',')[1])
                nodes.append(node('LeakyRelu', conv_out, outs, name + '.act',
                                  [attr_float('alpha', slope)]))
            else:
                assert act == '0', 'unsupported fused activation %s' % act
        elif kind == 'Concat':
            assert params.get('0', '0') == '0', 'only channel concat'
            nodes.append(node('Concat', ins, outs, name, [attr_int('axis', 1)]))
        elif kind == 'Eltwise':
            assert params.get('0') == '1', 'only sum'
            coeffs = [float(c) for c in params['-23301'].split(',')[1:]]
            assert len(coeffs) == len(ins) == 2
            scaled = []
            for j, (i, c) in enumerate(zip(ins, coeffs)):
                if c == 1.0:
                    scaled.append(i)
                    continue
                inits.append(tensor('%s.c%d' % (name, j), [], floats=[c]))
                nodes.append(node('Mul', [i, '%s.c%d' % (name, j)], ['%s.m%d' % (name, j)],
                                  '%s.mul%d' % (name, j)))
                scaled.append('%s.m%d' % (name, j))
            nodes.append(node('Add', scaled, outs, name))
            output = outs[0]
        elif kind == 'PReLU':
            n = int(params['0'])
            slopes = blob.floats(n)
            inits.append(tensor(name + '.slope', [n, 1, 1], floats=slopes))
            nodes.append(node('PRelu', [ins[0], name + '.slope'], outs, name))
        elif kind == 'PixelShuffle':
            r = int(params['0'])
            # PyTorch's PixelShuffle is ONNX DepthToSpace in CRD order.
            nodes.append(node('DepthToSpace', ins, outs, name,
                              [attr_int('blocksize', r), attr_string('mode', 'CRD')]))
            channels //= r * r
        elif kind == 'Interp':
            assert params['0'] == '1', 'only nearest Interp is converted (use the x4 model)'
            sy, sx = float(params['1']), float(params['2'])
            inits.append(tensor(name + '.scales', [4], floats=[1.0, 1.0, sy, sx]))
            nodes.append(node('Resize', [ins[0], '', name + '.scales'], outs, name,
                              [attr_string('mode', 'nearest'),
                               attr_string('nearest_mode', 'floor'),
                               attr_string('coordinate_transformation_mode', 'asymmetric')]))
        elif kind == 'BinaryOp':
            assert params.get('0', '0') == '0', 'only add'
            nodes.append(node('Add', ins, outs, name))
        else:
            raise SystemExit('ncnn2onnx: unsupported layer %s' % kind)
        if kind != 'Split':
            output = outs[0]  # the last layer's output is the network's
    assert blob.at == len(blob.data), 'ncnn bin has %d bytes left over' % (len(blob.data) - blob.at)
    assert output is not None
    nodes.append(node('Identity', [output], ['output'], 'out'))
    graph = b''.join(f_bytes(1, n) for n in nodes)
    graph += f_bytes(2, name_of(param_path))
    graph += b''.join(f_bytes(5, t) for t in inits)
    graph += f_bytes(11, value_info('input', [1, 3, 'height', 'width']))
    graph += f_bytes(12, value_info('output', [1, 3, 'height4', 'width4']))
    model = f_int(1, 8)  # IR version 8
    model += f_bytes(2, 'refract ncnn2onnx')
    model += f_bytes(7, graph)
    model += f_bytes(8, f_bytes(1, '') + f_int(2, 17))  # opset 17
    with open(out_path, 'wb') as f:
        f.write(model)


if __name__ == '__main__':
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    convert(*sys.argv[1:])
