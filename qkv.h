// qkv: everything a user program needs, in one include.
#pragma once

#include "core/autograd.h"
#include "core/generator.h"
#include "core/gradcheck.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "layers/module.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/optimizer.h"
#include "optim/rmsprop.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
