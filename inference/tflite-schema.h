/* streamsight — the parts of TFLite's flatbuffer schema the loader reads
 * (tensorflow/lite/schema/schema.fbs), and the loader's limits. Private to
 * tflite-*.c.
 *
 * Field slots are the declaration order; a union takes two slots (its type,
 * then its table).
 */
#ifndef SS_TFLITE_SCHEMA_H
#define SS_TFLITE_SCHEMA_H

/* ---- tables, enums and unions ---- */

enum { /* table Model */
  MODEL_VERSION = 0, MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION,
  MODEL_BUFFERS, MODEL_METADATA_BUFFER, MODEL_METADATA,
};
enum { /* table OperatorCode */
  OPCODE_DEPRECATED_BUILTIN = 0, OPCODE_CUSTOM, OPCODE_VERSION, OPCODE_BUILTIN,
};
enum { /* table SubGraph */
  SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS,
  SUBGRAPH_NAME,
};
enum { /* table Tensor */
  TENSOR_SHAPE = 0, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME,
  TENSOR_QUANTIZATION,
};
enum { /* table QuantizationParameters */
  QUANT_MIN = 0, QUANT_MAX, QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DETAILS_TYPE,
  QUANT_DETAILS, QUANT_DIMENSION,
};
enum { /* table Operator */
  OP_OPCODE_INDEX = 0, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE, OP_OPTIONS,
  OP_CUSTOM_OPTIONS,
};
enum { BUFFER_DATA = 0, BUFFER_OFFSET, BUFFER_SIZE }; /* table Buffer */
enum { METADATA_NAME = 0, METADATA_BUFFER };          /* table Metadata */

enum tfl_type { /* enum TensorType */
  TFL_FLOAT32 = 0, TFL_FLOAT16 = 1, TFL_INT32 = 2, TFL_UINT8 = 3,
  TFL_INT64 = 4, TFL_INT8 = 9,
};

enum tfl_op_code { /* enum BuiltinOperator, the ones handled */
  OPC_ADD = 0, OPC_AVERAGE_POOL_2D = 1, OPC_CONV_2D = 3,
  OPC_DEPTHWISE_CONV_2D = 4, OPC_DEQUANTIZE = 6, OPC_FULLY_CONNECTED = 9,
  OPC_RESHAPE = 22, OPC_SOFTMAX = 25, OPC_CUSTOM = 32, OPC_PAD = 34,
  OPC_MEAN = 40, OPC_SQUEEZE = 43, OPC_QUANTIZE = 114,
};

enum tfl_options { /* union BuiltinOptions */
  OPT_CONV_2D = 1, OPT_DEPTHWISE_CONV_2D = 2, OPT_POOL_2D = 5,
  OPT_FULLY_CONNECTED = 8, OPT_SOFTMAX = 9, OPT_ADD = 11, OPT_RESHAPE = 17,
  OPT_PAD = 22, OPT_REDUCER = 27, OPT_SQUEEZE = 30,
};

enum { PADDING_SAME = 0, PADDING_VALID = 1 };
enum { /* enum ActivationFunctionType */
  ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3,
};

/* ---- limits (the largest MobileNet has ~300 tensors and ~100 ops) ---- */

#define TFL_MAX_DIMS 8
#define TFL_MAX_TENSORS 100000u
#define TFL_MAX_OPS 20000u
#define TFL_MAX_BUFFERS 100000u
#define TFL_MAX_OPCODES 10000u
#define TFL_MAX_OP_IO 16u               /* inputs or outputs of one op */
#define TFL_MAX_ELEMENTS (1u << 28)     /* elements of one tensor */
#define TFL_MAX_QUANT_CHANNELS (1u << 20)

#endif
