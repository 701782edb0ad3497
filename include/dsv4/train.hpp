// dsv4/train.hpp — umbrella header for training: the f32 parameters of a shape and a model
// on them (parameters, make_model), the V4 loss and its exact gradient (forward_backward),
// and the cost figures of a shape (parameter_bytes, training_activation_bytes,
// training_flops_per_token). docs/TRAINING.md.
#pragma once

#include <dsv4/train/cost.hpp>
#include <dsv4/train/parameters.hpp>
#include <dsv4/train/training_step.hpp>
