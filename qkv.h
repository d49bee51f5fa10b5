// qkv: everything a user program needs, in one include.
#pragma once

#include "core/autograd.h"
#include "core/generator.h"
#include "core/gradcheck.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "layers/module.h"
