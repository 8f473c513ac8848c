/* payloom forest kernel: scores a tree ensemble, exported from a Treelite model, over columnar
 * input (one double array per feature, Arrow validity bitmaps for NULLs).
 *
 * Every tree is padded to a complete binary tree of depth FOREST_DEPTH, so a row walks the
 * same number of levels in every tree and the next node is computed, not branched to:
 *     node = 2 * node + 1 + go_right
 * Rows are scored in blocks of FOREST_BLOCK, level by level, so the loads of different rows
 * are independent and overlap (no branch mispredictions, no pointer chasing).
 *
 * Semantics are XGBoost's: a value is compared as float32 with `value < threshold` (left when
 * true); NULL and NaN follow the node's default direction; leaf outputs are summed in float32
 * in tree order, the base score is added, then the model's postprocessor.
 *
 * forest_tables.h (generated per model) defines FOREST_TREES, FOREST_DEPTH, FOREST_FEATURES,
 * FOREST_OUTPUTS, FOREST_POSTPROCESSOR and the tables split_feature, split_threshold,
 * default_right, leaf_value, tree_output, base_score, sigmoid_alpha.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "forest_tables.h"

#define FOREST_INTERNAL ((1 << FOREST_DEPTH) - 1)
#define FOREST_BLOCK 32

#define POSTPROCESS_IDENTITY 0
#define POSTPROCESS_SIGMOID 1
#define POSTPROCESS_SOFTMAX 2
#define POSTPROCESS_EXPONENTIAL 3

int32_t payloom_forest_abi_version(void) { return 1; }
int32_t payloom_forest_num_features(void) { return FOREST_FEATURES; }
int32_t payloom_forest_num_outputs(void) { return FOREST_OUTPUTS; }
int32_t payloom_forest_num_trees(void) { return FOREST_TREES; }

static void postprocess(float* row, int pred_margin) {
  if (pred_margin) return;
#if FOREST_POSTPROCESSOR == POSTPROCESS_SIGMOID
  for (int c = 0; c < FOREST_OUTPUTS; ++c) row[c] = 1.0f / (1.0f + expf(-sigmoid_alpha * row[c]));
#elif FOREST_POSTPROCESSOR == POSTPROCESS_SOFTMAX
  float top = row[0];
  for (int c = 1; c < FOREST_OUTPUTS; ++c) top = row[c] > top ? row[c] : top;
  double total = 0.0;
  for (int c = 0; c < FOREST_OUTPUTS; ++c) { row[c] = expf(row[c] - top); total += row[c]; }
  for (int c = 0; c < FOREST_OUTPUTS; ++c) row[c] = (float)(row[c] / total);
#elif FOREST_POSTPROCESSOR == POSTPROCESS_EXPONENTIAL
  for (int c = 0; c < FOREST_OUTPUTS; ++c) row[c] = expf(row[c]);
#endif
}

/* Score n_rows rows. columns[j] points at feature j's float64 values, validity[j] at its Arrow
 * validity bitmap (NULL when the column has no NULLs), offsets[j] is the Arrow array offset.
 * out receives n_rows * FOREST_OUTPUTS floats, row-major. Returns 0. Thread-safe. */
int32_t payloom_forest_predict(const double* const* columns, const uint8_t* const* validity,
                               const int64_t* offsets, int64_t n_rows, int32_t pred_margin,
                               float* out) {
  float x[FOREST_BLOCK][FOREST_FEATURES];
  float acc[FOREST_BLOCK][FOREST_OUTPUTS];
  int32_t node[FOREST_BLOCK];
  for (int64_t start = 0; start < n_rows; start += FOREST_BLOCK) {
    const int block = (n_rows - start) < FOREST_BLOCK ? (int)(n_rows - start) : FOREST_BLOCK;
    for (int j = 0; j < FOREST_FEATURES; ++j) {
      const double* values = columns[j];
      const uint8_t* valid = validity[j];
      for (int b = 0; b < block; ++b) {
        const int64_t k = offsets[j] + start + b;
        const int present = valid == NULL || ((valid[k >> 3] >> (k & 7)) & 1);
        x[b][j] = present ? (float)values[k] : NAN;
      }
    }
    for (int b = 0; b < block; ++b)
      for (int c = 0; c < FOREST_OUTPUTS; ++c) acc[b][c] = 0.0f;
    for (int t = 0; t < FOREST_TREES; ++t) {
      const uint16_t* feature = split_feature[t];
      const float* threshold = split_threshold[t];
      const uint8_t* to_right = default_right[t];
      for (int b = 0; b < block; ++b) node[b] = 0;
      for (int level = 0; level < FOREST_DEPTH; ++level) {
        for (int b = 0; b < block; ++b) {
          const int32_t i = node[b];
          const float v = x[b][feature[i]];
          const int32_t right = (v >= threshold[i]) | ((v != v) & to_right[i]);
          node[b] = 2 * i + 1 + right;
        }
      }
      const int c = tree_output[t];
      for (int b = 0; b < block; ++b) acc[b][c] += leaf_value[t][node[b] - FOREST_INTERNAL];
    }
    for (int b = 0; b < block; ++b) {
      float* row = out + (start + b) * FOREST_OUTPUTS;
      for (int c = 0; c < FOREST_OUTPUTS; ++c) row[c] = acc[b][c] + base_score[c];
      postprocess(row, pred_margin);
    }
  }
  return 0;
}
