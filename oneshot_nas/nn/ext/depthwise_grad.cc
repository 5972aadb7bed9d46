// Weight gradient of a depthwise convolution, as an MXNet 1.9 extension operator (lib_api).
//
// Why: MXNet 1.9.1's oneDNN has a JIT kernel for the depthwise weight gradient only for kernels up to
// 3x3 (jit_uni_dw_conv_bwd_weights requires kw <= 3). For the 5x5 and 7x7 choice blocks it falls back
// to an im2col GEMM that took 12-48 ms per call at batch 128 x 32 px and ~290 ms at batch 32 x 224 px.
// The direct loop below does what that JIT kernel does for 3x3.
//
//   dw[c, i, j] = sum_{n, y, x} x[n, c, s*y + i - p, s*x + j - p] * dy[n, c, y, x]
//
// The operator is a "tap" on the output y of Convolution(x, detached w) (whose backward then computes
// only the fast input gradient): forward out = y; backward dy = dout and dw = the sum above (x comes
// detached: no second input gradient).
// Inputs: y (N, C, OH, OW), x (N, C, H, W), w (C, 1, k, k), float32, dense, CPU. Attributes: kernel,
// stride, pad (square). Channels are split over OpenMP threads.
#include <algorithm>
#include <string>
#include <vector>

#include "mxnet/lib_api.h"

using namespace mxnet::ext;

namespace {

int attr(const std::unordered_map<std::string, std::string>& attrs, const char* name) {
  return std::stoi(attrs.at(name));
}

MXReturnValue parse_attrs(const std::unordered_map<std::string, std::string>& attrs, int* num_in,
                          int* num_out) {
  for (const char* name : {"kernel", "stride", "pad"}) {
    if (attrs.count(name) == 0) {
      MX_ERROR_MSG << "depthwise_weight_grad needs the attribute " << name;
      return MX_FAIL;
    }
  }
  *num_in = 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue infer_type(const std::unordered_map<std::string, std::string>& attrs,
                         std::vector<int>* in_types, std::vector<int>* out_types) {
  if ((*in_types)[0] != kFloat32 || (*in_types)[1] != kFloat32 || (*in_types)[2] != kFloat32) {
    MX_ERROR_MSG << "depthwise_weight_grad takes float32 only";
    return MX_FAIL;
  }
  (*out_types)[0] = kFloat32;
  return MX_SUCCESS;
}

MXReturnValue infer_shape(const std::unordered_map<std::string, std::string>& attrs,
                          std::vector<std::vector<unsigned int>>* in_shapes,
                          std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& y = (*in_shapes)[0];
  const auto& x = (*in_shapes)[1];
  const auto& w = (*in_shapes)[2];
  const unsigned int k = attr(attrs, "kernel");
  if (y.size() != 4 || x.size() != 4 || x[0] != y[0] || x[1] != y[1] || w.size() != 4 || w[0] != x[1] ||
      w[1] != 1 || w[2] != k || w[3] != k) {
    MX_ERROR_MSG << "depthwise_weight_grad: y (N, C, OH, OW), x (N, C, H, W) and w (C, 1, k, k) disagree";
    return MX_FAIL;
  }
  (*out_shapes)[0] = y;
  return MX_SUCCESS;
}

// out = y: the tap only marks where the output gradient is picked up.
MXReturnValue forward(const std::unordered_map<std::string, std::string>& attrs,
                      std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs, const OpResource& res) {
  MXTensor& y = (*inputs)[0];
  std::copy(y.data<float>(), y.data<float>() + y.size(), (*outputs)[0].data<float>());
  return MX_SUCCESS;
}

void weight_grad(const float* x, const float* g, float* dw, int N, int C, int H, int W, int OH, int OW, int k,
                 int s, int p) {
  // A zero-padded input row, split into s phases (phase r holds padded columns r, r+s, r+2s, ...), so
  // that kernel column j reads phase j % s contiguously from offset j / s: the dot products vectorise.
  const int phase_len = OW + (k - 1) / s + 1;

#pragma omp parallel
  {
    std::vector<float> phases(static_cast<size_t>(s) * phase_len);
    std::vector<float> acc(k * k);
#pragma omp for schedule(static)
    for (int c = 0; c < C; ++c) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int n = 0; n < N; ++n) {
        const float* xc = x + (static_cast<int64_t>(n) * C + c) * H * W;
        const float* gc = g + (static_cast<int64_t>(n) * C + c) * OH * OW;
        for (int yi = 0; yi < H; ++yi) {
          // input row yi meets output row y at kernel row i = yi + p - s*y, 0 <= i < k
          const int y_lo = std::max(0, (yi + p - k + s) / s), y_hi = std::min(OH - 1, (yi + p) / s);
          if (y_lo > y_hi) continue;
          std::fill(phases.begin(), phases.end(), 0.0f);
          for (int col = 0; col < s * phase_len; ++col) {
            const int xi = col - p;
            if (xi >= 0 && xi < W) phases[(col % s) * phase_len + col / s] = xc[yi * W + xi];
          }
          for (int y = y_lo; y <= y_hi; ++y) {
            const int i = yi + p - s * y;
            const float* gr = gc + y * OW;
            for (int j = 0; j < k; ++j) {
              const float* xr = phases.data() + (j % s) * phase_len + j / s;
              float sum = 0.0f;
              for (int xo = 0; xo < OW; ++xo) sum += xr[xo] * gr[xo];
              acc[i * k + j] += sum;
            }
          }
        }
      }
      std::copy(acc.begin(), acc.end(), dw + static_cast<int64_t>(c) * k * k);
    }
  }
}

// Backward inputs: the output gradient, then the forward inputs (y, x, w), then the forward output.
// Outputs: the gradients of y, x and w. x comes detached (a constant to autograd): its slot is unused.
MXReturnValue backward(const std::unordered_map<std::string, std::string>& attrs,
                       std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs, const OpResource& res) {
  const int k = attr(attrs, "kernel"), s = attr(attrs, "stride"), p = attr(attrs, "pad");
  MXTensor& dout = (*inputs)[0];
  MXTensor& x = (*inputs)[2];
  const float* g = dout.data<float>();
  std::copy(g, g + dout.size(), (*outputs)[0].data<float>());
  // (*outputs)[1], the gradient of the detached x, is never read.
  weight_grad(x.data<float>(), g, (*outputs)[2].data<float>(), x.shape[0], x.shape[1], x.shape[2], x.shape[3],
              dout.shape[2], dout.shape[3], k, s, p);
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(_oneshot_depthwise_weight_grad_tap)
    .setParseAttrs(parse_attrs)
    .setInferType(infer_type)
    .setInferShape(infer_shape)
    .setForward(forward, "cpu")
    .setBackward(backward, "cpu");

MXReturnValue initialize(int version) {
  if (version < 10900) {
    MX_ERROR_MSG << "oneshot-nas depthwise_grad was built for MXNet 1.9, found " << version;
    return MX_FAIL;
  }
  return MX_SUCCESS;
}
