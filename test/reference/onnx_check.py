"""Checks an ONNX file with the onnx package's checker (full check: with shape inference) and prints
what the export tests assert on: opset, IR version, inputs, outputs, metadata and op types, as JSON.
Usage: onnx_check.py MODEL.onnx"""
import json
import sys

import onnx


def dims(value_info):
    return [d.dim_param if d.dim_param else d.dim_value for d in value_info.type.tensor_type.shape.dim]


def main():
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    graph = model.graph
    print(json.dumps({
        'onnx': onnx.__version__,
        'ir_version': model.ir_version,
        'opset': [o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')],
        'inputs': [{'name': i.name, 'elem_type': i.type.tensor_type.elem_type, 'shape': dims(i)} for i in graph.input],
        'outputs': [{'name': o.name, 'elem_type': o.type.tensor_type.elem_type, 'shape': dims(o)} for o in graph.output],
        'metadata': {p.key: p.value for p in model.metadata_props},
        'op_types': sorted({n.op_type for n in graph.node}),
        'initializer_types': sorted({t.data_type for t in graph.initializer}),
    }))


if __name__ == '__main__':
    main()
