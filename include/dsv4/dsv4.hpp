// dsv4/dsv4.hpp — umbrella header: configs, number formats, checkpoint I/O, the model
// and its runtime. The text layer (tokenizer, chat encoding) is included separately
// through <dsv4/text.hpp> because it needs PCRE2 (CMake target dsv4::text).
#pragma once

#include <dsv4/error.hpp>

#include <dsv4/config/config.hpp>
#include <dsv4/config/derived.hpp>
#include <dsv4/config/flash.hpp>
#include <dsv4/config/mini.hpp>
#include <dsv4/config/pro.hpp>

#include <dsv4/tensor/dtype.hpp>
#include <dsv4/tensor/number_formats.hpp>

#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/config_json.hpp>
#include <dsv4/io/mapped_file.hpp>
#include <dsv4/io/safetensors.hpp>
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/io/tensor_names.hpp>
#include <dsv4/io/random_checkpoint.hpp>

#include <dsv4/kernels/linear.hpp>

#include <dsv4/nn/model.hpp>

#include <dsv4/context.hpp>
#include <dsv4/runtime/eval.hpp>
#include <dsv4/runtime/generate.hpp>
#include <dsv4/runtime/known_models.hpp>
#include <dsv4/runtime/sampling.hpp>
#include <dsv4/nn/sequence_state.hpp>
#include <dsv4/runtime/state_file.hpp>
