// The fused NTM step's arithmetic (Graves et al. 2014, eqs. 2-9), forward and backward, as
// templates over the scalar type T and the slot width MC (compile-time M, 0: Dims::M at run
// time). ntm_step.cpp includes this file twice, inside two namespaces: once for any CPU and,
// on x86-64 with GCC, once compiled for AVX2 + FMA and picked at run time when the CPU has
// them. So: no include guard and no includes (ntm_step.cpp includes what it uses first).
// Dims, EPS, BETA_MAX, GAMMA_MAX, SOFTPLUS_THRESHOLD and NTM_KEEP_ORDER come from there.

template <typename T>
T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }

template <typename T>
T softplus(T x) { return x > T(SOFTPLUS_THRESHOLD) ? x : std::log1p(std::exp(x)); }

template <typename T>
T softplus_grad(T x) { return x > T(SOFTPLUS_THRESHOLD) ? T(1) : sigmoid(x); }

// exp of every entry in place. Float: a Cephes-style polynomial (within ~1 ulp of expf; 0
// below -87.3, where expf gives at most FLT_MIN) as a plain loop the compiler vectorises,
// where glibc's expf is an opaque call per element; inputs above 87 or NaN take expf.
template <typename T>
void exp_inplace(T* z, int64_t n) {
  for (int64_t i = 0; i < n; ++i) z[i] = std::exp(z[i]);
}

template <>
NTM_KEEP_ORDER_ATTR void exp_inplace<float>(float* __restrict__ z, int64_t n) {
  NTM_KEEP_ORDER
  int32_t odd = 0;
  for (int64_t i = 0; i < n; ++i) odd |= !(z[i] <= 87.0f);
  if (odd) {
    for (int64_t i = 0; i < n; ++i) z[i] = std::exp(z[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float x = z[i];
    const float xc = x < -87.3f ? -87.3f : x;  // (no std::max: not inlined here)
    // exp(x) = 2^k exp(f), k = x / ln 2 rounded to nearest (even on a tie; f stays in
    // [-ln 2 / 2, ln 2 / 2]) by adding and subtracting 1.5 2^23, in [-126, 126]
    const float kf = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const int32_t k = static_cast<int32_t>(kf);
    const float f = (xc - kf * 0.693359375f) + kf * 2.12194440e-4f;  // ln 2 in two parts
    float p = 1.9875691500e-4f;
    p = p * f + 1.3981999507e-3f;
    p = p * f + 8.3334519073e-3f;
    p = p * f + 4.1665795894e-2f;
    p = p * f + 1.6666665459e-1f;
    p = p * f + 5.0000001201e-1f;
    const float ef = p * (f * f) + f + 1.0f;
    // 2^k, or 0 below -87.3 (a select of the result itself stops GCC vectorising for AVX2)
    const int32_t bits = x < -87.3f ? 0 : (k + 127) << 23;
    float two_k;
    std::memcpy(&two_k, &bits, sizeof two_k);
    z[i] = ef * two_k;
  }
}

// out[i] = log(x[i] + EPS). Float: a Cephes-style polynomial (within ~1 ulp of logf) for
// positive normal finite arguments, which x >= 0 gives; otherwise (NaN, inf, x < 0) logf.
template <typename T>
void log_eps(const T* x, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::log(x[i] + static_cast<T>(EPS));
}

template <>
NTM_KEEP_ORDER_ATTR void log_eps<float>(const float* __restrict__ x, float* __restrict__ out,
                                        int64_t n) {
  NTM_KEEP_ORDER
  constexpr float eps = static_cast<float>(EPS);
  int32_t odd = 0;
  for (int64_t i = 0; i < n; ++i)
    odd |= !(x[i] + eps >= std::numeric_limits<float>::min() &&
             x[i] + eps <= std::numeric_limits<float>::max());
  if (odd) {
    for (int64_t i = 0; i < n; ++i) out[i] = std::log(x[i] + eps);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] + eps;
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    int32_t e = static_cast<int32_t>(bits >> 23) - 126;          // v = mant 2^e
    const uint32_t mbits = (bits & 0x007fffffu) | 0x3f000000u;  // mant in [0.5, 1)
    float mant;
    std::memcpy(&mant, &mbits, sizeof mant);
    const bool low = mant < 0.707106781186547524f;
    e -= low ? 1 : 0;
    const float f = (low ? mant + mant : mant) - 1.0f;  // in [sqrt(1/2) - 1, sqrt(2) - 1)
    const float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    const float ef = static_cast<float>(e);
    const float y = p * f * z + ef * -2.12194440e-4f - 0.5f * z;  // ln 2 in two parts
    out[i] = (f + y) + ef * 0.693359375f;
  }
}

// sigmoid and tanh of n values (the erase and add vectors), through exp_inplace; tmp: n
// scratch values. Float tanh as Cephes' tanhf: an odd polynomial below |x| = 0.625, else
// 1 - 2 / (exp(2 |x|) + 1) (2 |x| capped at 40, where tanh is 1 in float).
template <typename T>
void sigmoid_of(const T* x, T* out, T* tmp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) tmp[i] = -x[i];
  exp_inplace(tmp, n);
  for (int64_t i = 0; i < n; ++i) out[i] = T(1) / (T(1) + tmp[i]);
}

template <typename T>
void tanh_of(const T* x, T* out, T* /*tmp*/, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(x[i]);
}

template <>
void tanh_of<float>(const float* x, float* out, float* tmp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) tmp[i] = std::min(2 * std::abs(x[i]), 40.0f);
  exp_inplace(tmp, n);
  for (int64_t i = 0; i < n; ++i) {
    const float ax = std::abs(x[i]), z = x[i] * x[i];
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const float y = ax < 0.625f ? p * z * ax + ax : 1.0f - 2.0f / (tmp[i] + 1.0f);
    out[i] = std::copysign(y, x[i]);
  }
}

// max of z[0..n), n >= 1 (as a std::max chain would give it), in eight independent chains:
// the compiler does not vectorise a float max, and one chain waits on each compare
template <typename T>
T max_of(const T* z, int64_t n) {
  T part[8];
  std::fill(part, part + 8, z[0]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] = z[i + j] > part[j] ? z[i + j] : part[j];
  T mx = part[0];
  for (int j = 1; j < 8; ++j) mx = std::max(mx, part[j]);
  for (; i < n; ++i) mx = std::max(mx, z[i]);
  return mx;
}

template <typename T>
void softmax_inplace(T* z, int64_t n) {
  const T mx = max_of(z, n);
  for (int64_t i = 0; i < n; ++i) z[i] -= mx;
  exp_inplace(z, n);
  T total = 0;
  for (int64_t i = 0; i < n; ++i) total += z[i];
  const T inv = 1 / total;
  for (int64_t i = 0; i < n; ++i) z[i] *= inv;
}

// wrap-padded copy of a weighting: out[j + r] = w[j mod N] for j in [-r, N + r)
template <typename T>
void pad_circular(const T* w, T* out, int64_t N, int64_t r) {
  std::copy(w, w + N, out + r);
  for (int64_t j = 0; j < r; ++j) {  // r <= (N - 1) / 2, so one wrap suffices
    out[j] = w[N - r + j];
    out[N + r + j] = w[j];
  }
}

// One batch row's head parameters, activated from its raw outputs.
template <typename T>
struct Heads {
  std::vector<T> raw, key, scale, beta, gate, shift, gamma, erase, add, scratch;

  explicit Heads(const Dims& d)
      : raw(d.P), key(d.H * d.M), scale(d.H), beta(d.H), gate(d.H), shift(d.H * d.S),
        gamma(d.H), erase(d.W * d.M), add(d.W * d.M), scratch(d.M) {}

  void unpack(const Dims& d, const T* src) {
    for (int64_t p = 0; p < d.P; ++p)
      raw[p] = d.clip > 0 ? std::min(std::max(src[p], T(-d.clip)), T(d.clip)) : src[p];
    for (int64_t h = 0; h < d.H; ++h) {
      const T* x = raw.data() + h * d.HS;
      T mx = 1;  // the key scaled to max-abs <= 1 (agents.addressing._unit_scale)
      for (int64_t m = 0; m < d.M; ++m) mx = std::max(mx, std::abs(x[m]));
      for (int64_t m = 0; m < d.M; ++m) key[h * d.M + m] = x[m] / mx;
      scale[h] = mx;
      beta[h] = softplus(x[d.M]);
      gate[h] = sigmoid(x[d.M + 1]);
      std::copy(x + d.M + 2, x + d.M + 2 + d.S, shift.data() + h * d.S);
      softmax_inplace(shift.data() + h * d.S, d.S);
      gamma[h] = 1 + softplus(x[d.M + 2 + d.S]);
    }
    for (int64_t h = 0; h < d.W; ++h) {
      const T* x = raw.data() + d.H * d.HS + h * 2 * d.M;
      sigmoid_of(x, erase.data() + h * d.M, scratch.data(), d.M);
      tanh_of(x + d.M, add.data() + h * d.M, scratch.data(), d.M);
    }
  }

  // the activated values (P + H: in raw's layout, then the key scales), for the backward
  void save(const Dims& d, T* dst) const {
    for (int64_t h = 0; h < d.H; ++h) {
      T* x = dst + h * d.HS;
      std::copy(key.begin() + h * d.M, key.begin() + (h + 1) * d.M, x);
      x[d.M] = beta[h];
      x[d.M + 1] = gate[h];
      std::copy(shift.begin() + h * d.S, shift.begin() + (h + 1) * d.S, x + d.M + 2);
      x[d.M + 2 + d.S] = gamma[h];
    }
    T* x = dst + d.H * d.HS;
    for (int64_t h = 0; h < d.W; ++h) {
      std::copy(erase.begin() + h * d.M, erase.begin() + (h + 1) * d.M, x + h * 2 * d.M);
      std::copy(add.begin() + h * d.M, add.begin() + (h + 1) * d.M, x + h * 2 * d.M + d.M);
    }
    std::copy(scale.begin(), scale.end(), dst + d.P);
  }

  // unpack's result from the raw outputs and what save wrote (no transcendentals)
  void load(const Dims& d, const T* src, const T* saved) {
    for (int64_t p = 0; p < d.P; ++p)
      raw[p] = d.clip > 0 ? std::min(std::max(src[p], T(-d.clip)), T(d.clip)) : src[p];
    for (int64_t h = 0; h < d.H; ++h) {
      const T* x = saved + h * d.HS;
      std::copy(x, x + d.M, key.begin() + h * d.M);
      beta[h] = x[d.M];
      gate[h] = x[d.M + 1];
      std::copy(x + d.M + 2, x + d.M + 2 + d.S, shift.begin() + h * d.S);
      gamma[h] = x[d.M + 2 + d.S];
    }
    const T* x = saved + d.H * d.HS;
    for (int64_t h = 0; h < d.W; ++h) {
      std::copy(x + h * 2 * d.M, x + h * 2 * d.M + d.M, erase.begin() + h * d.M);
      std::copy(x + h * 2 * d.M + d.M, x + (h + 1) * 2 * d.M, add.begin() + h * d.M);
    }
    std::copy(saved + d.P, saved + d.P + d.H, scale.begin());
  }
};

// cosine similarity of every addressing head's key with every memory row (eq. 6):
// K[h][i] = k_h . M_i / (|k_h| |M_i|), into cosine [H', N] (row stride N), and 1 / |M_i| into
// inv_mn [N]. Float sums and reciprocals; a row whose squared norm overflows in float (its
// dot products may then too) is redone in double, the products formed before rounding.
template <typename T, int64_t MC>
void cosines(const T* __restrict__ mem, const T* __restrict__ keys, const T* inv_kn, int64_t H,
             int64_t N, int64_t M_, T* __restrict__ cosine, T* __restrict__ inv_mn) {
  const int64_t M = MC > 0 ? MC : M_;
  for (int64_t i = 0; i < N; ++i) {  // one pass over the row per two heads (short M loops)
    const T* __restrict__ row = mem + i * M;
    const T* __restrict__ k0 = keys;
    const T* __restrict__ k1 = keys + (H > 1 ? M : 0);
    T sq = 0, d0 = 0, d1 = 0;
    for (int64_t m = 0; m < M; ++m) {
      sq += row[m] * row[m];
      d0 += k0[m] * row[m];
      d1 += k1[m] * row[m];
    }
    inv_mn[i] = sq;
    cosine[i] = d0;
    if (H > 1) cosine[N + i] = d1;
    for (int64_t h = 2; h < H; h += 2) {
      const T* __restrict__ ka = keys + h * M;
      const T* __restrict__ kb = keys + (h + 1 < H ? h + 1 : h) * M;
      T da = 0, db = 0;
      for (int64_t m = 0; m < M; ++m) {
        da += ka[m] * row[m];
        db += kb[m] * row[m];
      }
      cosine[h * N + i] = da;
      if (h + 1 < H) cosine[(h + 1) * N + i] = db;
    }
  }
  int32_t overflow = 0;
  for (int64_t i = 0; i < N; ++i) overflow |= !(inv_mn[i] <= std::numeric_limits<T>::max());
  std::vector<int64_t> redo;
  if (overflow)
    for (int64_t i = 0; i < N; ++i)
      if (!(inv_mn[i] <= std::numeric_limits<T>::max())) redo.push_back(i);
  for (int64_t i = 0; i < N; ++i) inv_mn[i] = 1 / std::sqrt(inv_mn[i] + static_cast<T>(EPS));
  for (int64_t h = 0; h < H; ++h) {
    T* __restrict__ K = cosine + h * N;
    const T ik = inv_kn[h];
    for (int64_t i = 0; i < N; ++i) K[i] = K[i] * inv_mn[i] * ik;
  }
  for (const int64_t i : redo) {
    const T* row = mem + i * M;
    double sqd = 0.0;
    for (int64_t m = 0; m < M; ++m) sqd += double(row[m]) * row[m];
    const double rn = 1.0 / std::sqrt(sqd + EPS);
    inv_mn[i] = static_cast<T>(rn);
    for (int64_t h = 0; h < H; ++h) {
      double dot = 0.0;
      for (int64_t m = 0; m < M; ++m) dot += double(keys[h * M + m]) * row[m];
      cosine[h * N + i] = static_cast<T>(dot * rn * double(inv_kn[h]));
    }
  }
}

// Column sums over n rows of width M, four rows per pass over the sums (one row per pass
// would chain every update of a sum through memory):
// acc0[m] += sum_i c0[i] A[i][m], and acc1[m] += sum_i c1[i] A[i][m] where c1 is given.
template <typename T, int64_t MC>
void add_weighted_rows(const T* __restrict__ A, const T* __restrict__ c0, T* __restrict__ acc0,
                       const T* __restrict__ c1, T* __restrict__ acc1, int64_t n, int64_t M_) {
  const int64_t M = MC > 0 ? MC : M_;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const T* __restrict__ a0 = A + i * M;
    const T* __restrict__ a1 = a0 + M;
    const T* __restrict__ a2 = a1 + M;
    const T* __restrict__ a3 = a2 + M;
    const T x0 = c0[i], x1 = c0[i + 1], x2 = c0[i + 2], x3 = c0[i + 3];
    if (c1) {
      const T y0 = c1[i], y1 = c1[i + 1], y2 = c1[i + 2], y3 = c1[i + 3];
      for (int64_t m = 0; m < M; ++m) {
        acc0[m] += (x0 * a0[m] + x1 * a1[m]) + (x2 * a2[m] + x3 * a3[m]);
        acc1[m] += (y0 * a0[m] + y1 * a1[m]) + (y2 * a2[m] + y3 * a3[m]);
      }
    } else {
      for (int64_t m = 0; m < M; ++m)
        acc0[m] += (x0 * a0[m] + x1 * a1[m]) + (x2 * a2[m] + x3 * a3[m]);
    }
  }
  for (; i < n; ++i)
    for (int64_t m = 0; m < M; ++m) {
      acc0[m] += c0[i] * A[i * M + m];
      if (c1) acc1[m] += c1[i] * A[i * M + m];
    }
}

// The erase and add gradients of one write head with weighting w (eqs. 3-4, W == 1), in
// column sums as above: de[m] -= sum_i w_i G[i][m] P[i][m], da[m] += sum_i w_i G[i][m].
template <typename T, int64_t MC>
void add_erase_add_grads(const T* __restrict__ G, const T* __restrict__ P,
                         const T* __restrict__ w, int64_t n, int64_t M_, T* __restrict__ de,
                         T* __restrict__ da) {
  const int64_t M = MC > 0 ? MC : M_;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const T* __restrict__ g0 = G + i * M;
    const T* __restrict__ g1 = g0 + M;
    const T* __restrict__ g2 = g1 + M;
    const T* __restrict__ g3 = g2 + M;
    const T* __restrict__ p0 = P + i * M;
    const T* __restrict__ p1 = p0 + M;
    const T* __restrict__ p2 = p1 + M;
    const T* __restrict__ p3 = p2 + M;
    const T w0 = w[i], w1 = w[i + 1], w2 = w[i + 2], w3 = w[i + 3];
    for (int64_t m = 0; m < M; ++m) {
      const T u0 = w0 * g0[m], u1 = w1 * g1[m], u2 = w2 * g2[m], u3 = w3 * g3[m];
      de[m] -= (u0 * p0[m] + u1 * p1[m]) + (u2 * p2[m] + u3 * p3[m]);
      da[m] += (u0 + u1) + (u2 + u3);
    }
  }
  for (; i < n; ++i)
    for (int64_t m = 0; m < M; ++m) {
      de[m] -= w[i] * G[i * M + m] * P[i * M + m];
      da[m] += w[i] * G[i * M + m];
    }
}

// MC: the slot width M when known at compile time (its inner loops then unroll), 0 for d.M
template <typename T, int64_t MC>
void forward_kernel(const Dims d, const T* raw, const T* memory, const T* write_prev,
                    const T* read_prev, T* write_w, T* read_w, T* reads, T* new_memory,
                    T* cosine, T* content, T* gated, T* shifted, T* log_shifted, T* key_norm,
                    T* inv_mem_norm, T* heads) {
  const int64_t H = d.H, W = d.W, R = d.R, N = d.N, M = MC > 0 ? MC : d.M, S = d.S, r = d.r;
  const int64_t h0 = d.fixed_writes ? W : 0;  // the first head that addresses by content
  at::parallel_for(0, d.B, 1, [&](int64_t begin, int64_t end) {
    Heads<T> hp(d);
    std::vector<T> padded(N + 2 * r);
    std::vector<T> inv_kn(H);
    std::vector<const T*> prev(H);
    std::vector<T*> weights(H);
    for (int64_t b = begin; b < end; ++b) {
      hp.unpack(d, raw + b * d.P);
      hp.save(d, heads + b * (d.P + H));
      for (int64_t h = 0; h < H; ++h) {
        prev[h] = h < W ? write_prev + (b * W + h) * N : read_prev + (b * R + h - W) * N;
        weights[h] = h < W ? write_w + (b * W + h) * N : read_w + (b * R + h - W) * N;
      }
      const T* P = memory + b * N * M;
      T* kn = key_norm + b * H;
      T* inv_mn = inv_mem_norm + b * N;
      for (int64_t h = 0; h < H; ++h) {
        T sq = 0;
        for (int64_t m = 0; m < M; ++m) sq += hp.key[h * M + m] * hp.key[h * M + m];
        kn[h] = std::sqrt(sq + static_cast<T>(EPS));
        inv_kn[h] = 1 / kn[h];
      }
      // pass 1 over memory: row norms and the addressing heads' cosines (eq. 6)
      std::fill(cosine + b * H * N, cosine + (b * H + h0) * N, T(0));  // fixed writes: unused
      cosines<T, MC>(P, hp.key.data() + h0 * M, inv_kn.data() + h0, H - h0, N, M,
              cosine + (b * H + h0) * N, inv_mn);
      for (int64_t h = 0; h < H; ++h) {
        const int64_t bh = b * H + h;
        const T* K = cosine + bh * N;
        const T* wp = prev[h];
        const T* s = hp.shift.data() + h * S;
        T* wc = content + bh * N;
        T* wg = gated + bh * N;
        T* wt = shifted + bh * N;
        T* lw = log_shifted + bh * N;
        T* w = weights[h];
        if (h < W && d.fixed_writes) {  // the given weighting; the saved ones are unused
          std::copy(wp, wp + N, w);
          for (T* saved : {wc, wg, wt, lw}) std::fill(saved, saved + N, T(0));
          continue;
        }
        const T bp = std::min(hp.beta[h], static_cast<T>(BETA_MAX));
        for (int64_t i = 0; i < N; ++i) wc[i] = bp * K[i];
        softmax_inplace(wc, N);  // eq. 5
        const T g = hp.gate[h];
        for (int64_t i = 0; i < N; ++i) wg[i] = g * wc[i] + (1 - g) * wp[i];  // eq. 7
        pad_circular(wg, padded.data(), N, r);
        std::fill(wt, wt + N, T(0));
        for (int64_t k = -r; k <= r; ++k) {  // eq. 8: wt(i) = sum_k wg(i - k) s(k)
          const T sk = s[r + k];
          const T* src = padded.data() + r - k;
          for (int64_t i = 0; i < N; ++i) wt[i] += src[i] * sk;
        }
        const T gm = std::min(hp.gamma[h], static_cast<T>(GAMMA_MAX));
        log_eps(wt, lw, N);
        for (int64_t i = 0; i < N; ++i) w[i] = gm * lw[i];
        softmax_inplace(w, N);  // eq. 9 as softmax(gamma log(wt + eps))
      }
      // pass 2: read the memory of t - 1 (eq. 2), then erase and add (eqs. 3-4)
      T* rd = reads + b * R * M;
      std::fill(rd, rd + R * M, T(0));
      T* out = new_memory + b * N * M;
      const T* __restrict__ e = hp.erase.data();
      const T* __restrict__ a = hp.add.data();
      for (int64_t h = W; h < H; h += 2)  // read heads two at a time
        add_weighted_rows<T, MC>(P, weights[h], rd + (h - W) * M, h + 1 < H ? weights[h + 1] : nullptr,
                          rd + (h + 1 - W) * M, N, M);
      for (int64_t i = 0; i < N; ++i) {
        const T* __restrict__ row = P + i * M;
        T* __restrict__ orow = out + i * M;
        if (W == 1) {  // M + w (a - e M)
          const T wi = weights[0][i];
          for (int64_t m = 0; m < M; ++m) orow[m] = row[m] + wi * (a[m] - e[m] * row[m]);
          continue;
        }
        for (int64_t m = 0; m < M; ++m) {
          T keep = 1, added = 0;
          for (int64_t h = 0; h < W; ++h) {
            keep *= 1 - weights[h][i] * e[h * M + m];
            added += weights[h][i] * a[h * M + m];
          }
          orow[m] = row[m] * keep + added;
        }
      }
    }
  });
}

// Backward pass 1, one memory row, W == 1: adds d/dw of the write weighting (M + w (a - e M),
// eqs. 3-4) to dw and of the first read head's (eq. 2) to dwr.
template <typename T, int64_t MC>
void write_row_grads(const T* __restrict__ row, const T* __restrict__ grow,
                     const T* __restrict__ a, const T* __restrict__ e, const T* __restrict__ gr,
                     int64_t M_, T& dw, T& dwr) {
  const int64_t M = MC > 0 ? MC : M_;
  T acc = 0, acc_r = 0;
  for (int64_t m = 0; m < M; ++m) {
    acc += grow[m] * (a[m] - row[m] * e[m]);
    acc_r += gr[m] * row[m];
  }
  dw += acc;
  dwr += acc_r;
}

// Backward pass 2, one memory row, W == 1 and both heads addressing: the row's gradient
// through the write (eqs. 3-4), its norm, the first read (eq. 2) and both heads' cosines
// (dd, ddr: d/d(k . M_i)).
template <typename T, int64_t MC>
void memory_row_grad(const T* __restrict__ row, const T* __restrict__ grow,
                     const T* __restrict__ e, const T* __restrict__ gr,
                     const T* __restrict__ keys, T wi, T wr, T norm_term, T dd, T ddr,
                     T* __restrict__ drow, int64_t M_) {
  const int64_t M = MC > 0 ? MC : M_;
  const T* __restrict__ k1 = keys + M;
  for (int64_t m = 0; m < M; ++m)
    drow[m] = grow[m] * (1 - wi * e[m]) + norm_term * row[m] + dd * keys[m] +
              (wr * gr[m] + ddr * k1[m]);
}

template <typename T, int64_t MC>
void backward_kernel(const Dims d, const T* g_write_w, const T* g_read_w, const T* g_reads,
                     const T* g_memory, const T* raw, const T* memory, const T* write_prev,
                     const T* read_prev, const T* write_w, const T* read_w, const T* cosine,
                     const T* content, const T* gated, const T* shifted, const T* log_shifted,
                     const T* key_norm, const T* inv_mem_norm, const T* heads, T* d_raw,
                     T* d_memory,
                     T* d_write_prev,
                     T* d_read_prev) {
  const int64_t H = d.H, W = d.W, R = d.R, N = d.N, M = MC > 0 ? MC : d.M, S = d.S, r = d.r;
  const int64_t h0 = d.fixed_writes ? W : 0;
  at::parallel_for(0, d.B, 1, [&](int64_t begin, int64_t end) {
    Heads<T> hp(d);
    std::vector<T> dw(H * N), ddot(H * N), dmn(N), dwt(N), dwg(N), dkey(H * M);
    std::vector<T> padded(N + 2 * r), others(M), de(W * M), da(W * M), dshift(S);
    std::vector<T> dbeta(H), dgate(H), dgamma(H);
    std::vector<const T*> prev(H), weights(H);
    std::vector<T*> dprev(H);
    for (int64_t b = begin; b < end; ++b) {
      hp.load(d, raw + b * d.P, heads + b * (d.P + H));
      for (int64_t h = 0; h < H; ++h) {
        const bool wr = h < W;
        const int64_t off = wr ? (b * W + h) * N : (b * R + h - W) * N;
        prev[h] = (wr ? write_prev : read_prev) + off;
        weights[h] = (wr ? write_w : read_w) + off;
        dprev[h] = (wr ? d_write_prev : d_read_prev) + off;
        const T* gsrc = (wr ? g_write_w : g_read_w) + off;
        std::copy(gsrc, gsrc + N, dw.data() + h * N);
      }
      const T* P = memory + b * N * M;
      const T* gN = g_memory + b * N * M;
      const T* gR = g_reads + b * R * M;
      const T* __restrict__ e = hp.erase.data();
      const T* __restrict__ a = hp.add.data();
      const T* kn = key_norm + b * H;
      const T* inv_mn = inv_mem_norm + b * N;
      std::fill(de.begin(), de.end(), T(0));
      std::fill(da.begin(), da.end(), T(0));
      // pass 1 over memory: gradients of the weightings through the write and the read
      for (int64_t i = 0; i < N; ++i) {
        const T* __restrict__ row = P + i * M;
        const T* __restrict__ grow = gN + i * M;
        if (W == 1) {  // M + w (a - e M): no other write heads' product
          write_row_grads<T, MC>(row, grow, a, e, gR, M, dw[i], dw[N + i]);
        }
        for (int64_t h = 0; h < W && W > 1; ++h) {  // M prod_h (1 - w_h e_h) + sum_h w_h a_h
          T* __restrict__ oth = others.data();
          for (int64_t m = 0; m < M; ++m) oth[m] = 1;
          for (int64_t o = 0; o < W; ++o) {
            if (o == h) continue;
            const T wo = weights[o][i];
            for (int64_t m = 0; m < M; ++m) oth[m] *= 1 - wo * e[o * M + m];
          }
          const T wi = weights[h][i];
          const T* __restrict__ eh = e + h * M;
          const T* __restrict__ ah = a + h * M;
          T* __restrict__ deh = de.data() + h * M;
          T* __restrict__ dah = da.data() + h * M;
          T acc = 0;
          for (int64_t m = 0; m < M; ++m) acc += grow[m] * (ah[m] - row[m] * eh[m] * oth[m]);
          for (int64_t m = 0; m < M; ++m) {
            deh[m] -= grow[m] * row[m] * wi * oth[m];
            dah[m] += grow[m] * wi;
          }
          dw[h * N + i] += acc;
        }
        for (int64_t h = W == 1 ? W + 1 : W; h < H; ++h) {  // W == 1: the first one above
          const T* __restrict__ gr = gR + (h - W) * M;
          T acc = 0;
          for (int64_t m = 0; m < M; ++m) acc += gr[m] * row[m];
          dw[h * N + i] += acc;
        }
      }
      if (W == 1) {  // de = -sum_i w_i g_i M_i, da = sum_i w_i g_i
        add_erase_add_grads<T, MC>(gN, P, weights[0], N, M, de.data(), da.data());
      }
      std::fill(dmn.begin(), dmn.end(), T(0));
      T* dr = d_raw + b * d.P;
      for (int64_t h = 0; h < H; ++h) {  // back through eqs. 9, 8, 7, 5 and the cosine of eq. 6
        const int64_t bh = b * H + h;
        const T* w = weights[h];
        const T* wt = shifted + bh * N;
        const T* lwt = log_shifted + bh * N;
        const T* wc = content + bh * N;
        const T* wp = prev[h];
        const T* K = cosine + bh * N;
        const T* s = hp.shift.data() + h * S;
        const T* gw = dw.data() + h * N;
        if (h < W && d.fixed_writes) {  // w = the given weighting: its gradient passes through
          std::copy(gw, gw + N, dprev[h]);
          std::fill(ddot.begin() + h * N, ddot.begin() + (h + 1) * N, T(0));
          std::fill(dkey.begin() + h * M, dkey.begin() + (h + 1) * M, T(0));
          std::fill(dr + h * d.HS + M + 2, dr + h * d.HS + M + 2 + S, T(0));
          dbeta[h] = dgate[h] = dgamma[h] = 0;
          continue;
        }
        T dot = 0;
        for (int64_t i = 0; i < N; ++i) dot += gw[i] * w[i];
        const T gm = std::min(hp.gamma[h], static_cast<T>(GAMMA_MAX));
        T dgm = 0;
        for (int64_t i = 0; i < N; ++i) {
          const T dl = w[i] * (gw[i] - dot);  // softmax backward
          dgm += dl * lwt[i];
          dwt[i] = dl * gm / (wt[i] + static_cast<T>(EPS));
        }
        dgamma[h] = hp.gamma[h] <= static_cast<T>(GAMMA_MAX) ? dgm : T(0);
        pad_circular(gated + bh * N, padded.data(), N, r);
        T sdot = 0;
        for (int64_t k = -r; k <= r; ++k) {  // wt(i) = sum_k wg(i - k) s(k)
          const T* src = padded.data() + r - k;
          T acc = 0;
          for (int64_t i = 0; i < N; ++i) acc += dwt[i] * src[i];
          dshift[r + k] = acc;
          sdot += acc * s[r + k];
        }
        for (int64_t k = 0; k < S; ++k)  // back through the shift softmax
          dr[h * d.HS + M + 2 + k] = s[k] * (dshift[k] - sdot);
        pad_circular(dwt.data(), padded.data(), N, r);
        std::fill(dwg.begin(), dwg.end(), T(0));
        for (int64_t k = -r; k <= r; ++k) {  // dwg(j) = sum_k dwt(j + k) s(k)
          const T sk = s[r + k];
          const T* src = padded.data() + r + k;
          for (int64_t j = 0; j < N; ++j) dwg[j] += src[j] * sk;
        }
        const T g = hp.gate[h];
        T dg = 0, sd = 0;
        for (int64_t i = 0; i < N; ++i) {
          dprev[h][i] = (1 - g) * dwg[i];
          dg += dwg[i] * (wc[i] - wp[i]);
          sd += g * dwg[i] * wc[i];
        }
        dgate[h] = dg;
        const T bp = std::min(hp.beta[h], static_cast<T>(BETA_MAX));
        T db = 0, dkn = 0;
        const T inv_kn = 1 / kn[h];
        for (int64_t i = 0; i < N; ++i) {  // K = dot / (|k| |M_i|)
          const T dz = wc[i] * (g * dwg[i] - sd);
          db += dz * K[i];
          const T dK = dz * bp;
          ddot[h * N + i] = dK * inv_kn * inv_mn[i];
          dkn -= dK * K[i];
          dmn[i] -= dK * K[i] * inv_mn[i];  // d/dP_i = dmn_i P_i / |M_i|
        }
        dkn *= inv_kn;
        dbeta[h] = hp.beta[h] <= static_cast<T>(BETA_MAX) ? db : T(0);
        for (int64_t m = 0; m < M; ++m) dkey[h * M + m] = dkn * hp.key[h * M + m] * inv_kn;
      }
      // pass 2 over memory: its gradient (write, read, cosine) and the keys'
      T* dP = d_memory + b * N * M;
      for (int64_t i = 0; i < N; ++i) {
        const T* __restrict__ row = P + i * M;
        const T* __restrict__ grow = gN + i * M;
        T* __restrict__ drow = dP + i * M;
        const T norm_term = dmn[i] * inv_mn[i];  // times P_i
        int64_t h_key = h0;  // the first head whose key term is still to add
        int64_t h_read = W;  // the first read head whose terms are still to add
        if (W == 1 && h0 == 0) {  // the write head's key term and the first read head's terms
          memory_row_grad<T, MC>(row, grow, e, gR, hp.key.data(), weights[0][i], weights[1][i],
                          norm_term, ddot[i], ddot[N + i], drow, M);
          h_key = h_read = 2;
        } else if (W == 1) {
          const T wi = weights[0][i];
          for (int64_t m = 0; m < M; ++m)
            drow[m] = grow[m] * (1 - wi * e[m]) + norm_term * row[m];
        } else {
          for (int64_t m = 0; m < M; ++m) {
            T keep = 1;
            for (int64_t h = 0; h < W; ++h) keep *= 1 - weights[h][i] * e[h * M + m];
            drow[m] = grow[m] * keep + norm_term * row[m];
          }
        }
        for (int64_t h = h_key; h < W; ++h) {  // fixed writes: no cosine, no gradient
          const T dd = ddot[h * N + i];
          const T* __restrict__ kh = hp.key.data() + h * M;
          for (int64_t m = 0; m < M; ++m) drow[m] += dd * kh[m];
        }
        for (int64_t h = h_read; h < H; ++h) {  // read (eq. 2) and cosine
          const T wi = weights[h][i], dd = ddot[h * N + i];
          const T* __restrict__ gr = gR + (h - W) * M;
          const T* __restrict__ kh = hp.key.data() + h * M;
          for (int64_t m = 0; m < M; ++m) drow[m] += wi * gr[m] + dd * kh[m];
        }
      }
      for (int64_t h = h0; h < H; h += 2)  // the keys' gradient: sum_i d/d(k . M_i) M_i
        add_weighted_rows<T, MC>(P, ddot.data() + h * N, dkey.data() + h * M,
                          h + 1 < H ? ddot.data() + (h + 1) * N : nullptr,
                          dkey.data() + (h + 1) * M, N, M);
      // back through the activations to the raw head outputs, then the clip
      for (int64_t h = 0; h < H; ++h) {
        T* x = dr + h * d.HS;
        const T* raw_h = hp.raw.data() + h * d.HS;
        for (int64_t m = 0; m < M; ++m) x[m] = dkey[h * M + m] / hp.scale[h];
        x[M] = dbeta[h] * softplus_grad(raw_h[M]);
        x[M + 1] = dgate[h] * hp.gate[h] * (1 - hp.gate[h]);
        x[M + 2 + S] = dgamma[h] * softplus_grad(raw_h[M + 2 + S]);
      }
      for (int64_t h = 0; h < W; ++h) {
        T* x = dr + H * d.HS + h * 2 * M;
        for (int64_t m = 0; m < M; ++m) {
          const T ev = e[h * M + m], av = a[h * M + m];
          x[m] = de[h * M + m] * ev * (1 - ev);
          x[M + m] = da[h * M + m] * (1 - av * av);
        }
      }
      if (d.clip > 0) {  // clamp passes the gradient only inside [-clip, clip]
        const T* src = raw + b * d.P;
        for (int64_t p = 0; p < d.P; ++p)
          if (src[p] < T(-d.clip) || src[p] > T(d.clip)) dr[p] = 0;
      }
    }
  });
}

// The LSTM cell's pointwise part (PyTorch's gate order i, f, g, o) for B rows: gates [B, 4C]
// activated in place (pre-activations in), then c_new = f c + i g, tanh_c = tanh(c_new) and
// h = o tanh_c, each [B, C].
template <typename T>
void lstm_pointwise(T* gates, const T* c, T* c_new, T* tanh_c, T* h, int64_t B, int64_t C) {
  std::vector<T> tmp(2 * C);
  for (int64_t b = 0; b < B; ++b) {
    T* a = gates + b * 4 * C;
    sigmoid_of(a, a, tmp.data(), 2 * C);
    tanh_of(a + 2 * C, a + 2 * C, tmp.data(), C);
    sigmoid_of(a + 3 * C, a + 3 * C, tmp.data(), C);
    const T* cb = c + b * C;
    T* cn = c_new + b * C;
    for (int64_t k = 0; k < C; ++k) cn[k] = a[C + k] * cb[k] + a[k] * a[2 * C + k];
    T* tc = tanh_c + b * C;
    tanh_of(cn, tc, tmp.data(), C);
    for (int64_t k = 0; k < C; ++k) h[b * C + k] = a[3 * C + k] * tc[k];
  }
}

// Back through lstm_pointwise for B rows: acts [B, 4C] (the activated gates), c_prev and
// tanh_c [B, C]; dh, dc [B, C] reach h' and c'. Writes d_gates [B, 4C] (pre-activations) and
// turns dc into the gradient reaching c_prev.
template <typename T>
void lstm_pointwise_backward(const T* acts, const T* c_prev, const T* tanh_c, const T* dh, T* dc,
                             T* d_gates, int64_t B, int64_t C) {
  for (int64_t b = 0; b < B; ++b) {
    const T* a = acts + b * 4 * C;
    T* d = d_gates + b * 4 * C;
    const T *cp = c_prev + b * C, *tc = tanh_c + b * C, *dhb = dh + b * C;
    T* dcb = dc + b * C;
    for (int64_t k = 0; k < C; ++k) {
      const T i = a[k], f = a[C + k], g = a[2 * C + k], o = a[3 * C + k], t = tc[k];
      const T dcj = dcb[k] + dhb[k] * o * (1 - t * t);
      d[k] = dcj * g * i * (1 - i);
      d[C + k] = dcj * cp[k] * f * (1 - f);
      d[2 * C + k] = dcj * i * (1 - g * g);
      d[3 * C + k] = dhb[k] * t * o * (1 - o);
      dcb[k] = dcj * f;
    }
  }
}

// The GRU cell's pointwise part (PyTorch's gate order r, z, n) for B rows: gx [B, 3C] the
// input part of the gates (W_ih x + b_ih), gh [B, 3C] the hidden part (W_hh h + b_hh), h
// [B, C]. Writes acts [B, 3C] = (r, z, n) and h_new [B, C]:
// r = sigmoid(gx_r + gh_r), z = sigmoid(gx_z + gh_z), n = tanh(gx_n + r gh_n),
// h_new = (1 - z) n + z h.
template <typename T>
void gru_pointwise(const T* gx, const T* gh, const T* h, T* acts, T* h_new, int64_t B,
                   int64_t C) {
  std::vector<T> tmp(2 * C);
  for (int64_t b = 0; b < B; ++b) {
    const T *x = gx + b * 3 * C, *g = gh + b * 3 * C, *hb = h + b * C;
    T* a = acts + b * 3 * C;
    for (int64_t k = 0; k < 2 * C; ++k) a[k] = x[k] + g[k];
    sigmoid_of(a, a, tmp.data(), 2 * C);
    for (int64_t k = 0; k < C; ++k) a[2 * C + k] = x[2 * C + k] + a[k] * g[2 * C + k];
    tanh_of(a + 2 * C, a + 2 * C, tmp.data(), C);
    T* hn = h_new + b * C;
    for (int64_t k = 0; k < C; ++k) hn[k] = (1 - a[C + k]) * a[2 * C + k] + a[C + k] * hb[k];
  }
}

// Back through gru_pointwise: acts [B, 3C], gh [B, 3C] (its n part is used), h [B, C] and
// dh [B, C] reaching h_new. Writes the gradients of the gates' input part d_gx [B, 3C] and
// hidden part d_gh [B, 3C], and dh_direct [B, C] = dh z (the part reaching h not through
// gh).
template <typename T>
void gru_pointwise_backward(const T* acts, const T* gh, const T* h, const T* dh, T* d_gx,
                            T* d_gh, T* dh_direct, int64_t B, int64_t C) {
  for (int64_t b = 0; b < B; ++b) {
    const T *a = acts + b * 3 * C, *g = gh + b * 3 * C, *hb = h + b * C, *dhb = dh + b * C;
    T *dx = d_gx + b * 3 * C, *dg = d_gh + b * 3 * C, *dd = dh_direct + b * C;
    for (int64_t k = 0; k < C; ++k) {
      const T r = a[k], z = a[C + k], n = a[2 * C + k], d = dhb[k];
      const T dn = d * (1 - z) * (1 - n * n);
      const T dz = d * (hb[k] - n) * z * (1 - z);
      const T dr = dn * g[2 * C + k] * r * (1 - r);
      dx[k] = dr, dx[C + k] = dz, dx[2 * C + k] = dn;
      dg[k] = dr, dg[C + k] = dz, dg[2 * C + k] = dn * r;
      dd[k] = d * z;
    }
  }
}

// f(std::integral_constant<int64_t, MC>{}) with MC = M for the float slot widths compiled
// specially (their inner loops unroll), else MC = 0 (M read at run time)
template <typename T, typename F>
void with_width(int64_t M, F&& f) {
  if (std::is_same<T, float>::value) {
    switch (M) {
      case 8: return f(std::integral_constant<int64_t, 8>{});
      case 16: return f(std::integral_constant<int64_t, 16>{});
      case 20: return f(std::integral_constant<int64_t, 20>{});
      case 32: return f(std::integral_constant<int64_t, 32>{});
      default: break;
    }
  }
  f(std::integral_constant<int64_t, 0>{});
}

// forward_kernel and backward_kernel at the width with_width picks (arguments as theirs)
template <typename T>
struct Kernels {
  static void lstm(T* gates, const T* c, T* c_new, T* tanh_c, T* h, int64_t B, int64_t C) {
    lstm_pointwise(gates, c, c_new, tanh_c, h, B, C);
  }
  static void lstm_backward(const T* acts, const T* c_prev, const T* tanh_c, const T* dh, T* dc,
                            T* d_gates, int64_t B, int64_t C) {
    lstm_pointwise_backward(acts, c_prev, tanh_c, dh, dc, d_gates, B, C);
  }
  static void gru(const T* gx, const T* gh, const T* h, T* acts, T* h_new, int64_t B, int64_t C) {
    gru_pointwise(gx, gh, h, acts, h_new, B, C);
  }
  static void gru_backward(const T* acts, const T* gh, const T* h, const T* dh, T* d_gx, T* d_gh,
                           T* dh_direct, int64_t B, int64_t C) {
    gru_pointwise_backward(acts, gh, h, dh, d_gx, d_gh, dh_direct, B, C);
  }
  template <typename... A>
  static void forward(const Dims& d, A... args) {
    with_width<T>(d.M, [&](auto mc) { forward_kernel<T, decltype(mc)::value>(d, args...); });
  }
  template <typename... A>
  static void backward(const Dims& d, A... args) {
    with_width<T>(d.M, [&](auto mc) { backward_kernel<T, decltype(mc)::value>(d, args...); });
  }
};
