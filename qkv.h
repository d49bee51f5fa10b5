// qkv: everything a user program needs, in one include.
#pragma once

#include "core/autograd.h"
#include "core/generator.h"
#include "core/gradcheck.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "layers/module.h"
#include "tasks/pixels.h"
#include "tasks/recall.h"
#include "tasks/sequence_tasks.h"
#include "tasks/task.h"
#include "train/config.h"
#include "train/schema.h"
