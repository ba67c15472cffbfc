// Runs kernels.cu's barrier-free kernels on the CPU, one emulated thread after another, and checks
// them against plain double loops: tools/cuda-kernels-check.sh builds it with g++ and the CUDA
// built-ins stubbed. A kernel that only reads its own thread's indices and strides over the grid
// gives the same answer in any thread order, so this checks its indexing and arithmetic where no
// GPU is at hand. (Kernels with __syncthreads are left to `tsumugi device --check` on a GPU.)
//
// Covered, each under two launch shapes:
// - the two-pass column reductions (column_partials with column_sums_finish, batch_norm_stats
//   and batch_norm_grad_sums), at shapes with one partial chunk, several, an uneven last one, and
//   a convolution's 48,400 rows of 32 channels;
// - the scatter-add by destination (a counting sort, then each destination's rows in order),
//   which must give the bits of adding the rows one after another in row order, as the CPU
//   does, with its atomics served in reverse order;
// - the attention's head split and merge over a stacked [B·W + B·N, width] block (each
//   sequence's words, then each one's entities), against the rows as plain loops find them, and
//   the merge as the split's inverse, bit for bit; the activations against their definitions.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../src/compute/cuda/kernels.cu"

// Every (block, thread) of a one-dimensional launch, in order.
template <class F> static void launch(unsigned blocks, unsigned threads, F kernel) {
    gridDim = {blocks, 1, 1};
    blockDim = {threads, 1, 1};
    for (unsigned b = 0; b < blocks; b++)
        for (unsigned t = 0; t < threads; t++) {
            blockIdx = {b, 0, 0};
            threadIdx = {t, 0, 0};
            kernel();
        }
}

static int failures = 0;

static void expect(const char* what, unsigned rows, unsigned cols, double got, double want) {
    double tolerance = 1e-5 * std::fmax(1.0, std::fabs(want));
    if (!(std::fabs(got - want) <= tolerance)) {
        if (failures < 20) std::printf("FAIL %s (%u × %u): got %.9g, want %.9g\n", what, rows, cols, got, want);
        failures++;
    }
}

// The launch shapes: cuda/mod.rs's spread (256 threads, up to 4096 blocks) and a small one.
static unsigned spread_blocks(unsigned long long n) {
    unsigned long long b = (n + 255) / 256;
    return b < 1 ? 1 : b > 4096 ? 4096 : (unsigned)b;
}

static void check(unsigned rows, unsigned cols, bool small_grid, bool relu) {
    unsigned chunk = (unsigned)std::ceil(std::sqrt((double)rows));
    if (chunk < 32) chunk = 32;  // cuda/mod.rs's column_chunk
    unsigned chunks = (rows + chunk - 1) / chunk;
    size_t n = (size_t)rows * cols;
    std::vector<float> x(n), dy(n), y(n), start(cols), saved(2 * cols), running_mean(cols), running_var(cols);
    srand(rows * 31 + cols);
    auto uniform = [] { return (float)rand() / RAND_MAX * 2.0f - 1.0f; };
    for (auto& v : x) v = 2.0f * uniform() + 0.5f;
    for (auto& v : dy) v = uniform();
    for (auto& v : y) v = std::fmax(uniform(), 0.0f);  // a ReLU's output: zero about half the time
    for (auto& v : start) v = uniform();
    std::vector<double> part(2 * (size_t)(chunks ? chunks : 1) * cols);
    auto first = [&](unsigned long long threads) { return small_grid ? 2u : spread_blocks(threads); };
    unsigned threads = small_grid ? 7 : 256;

    // plain double loops
    std::vector<double> sum(cols), sq(cols), mean(cols), var(cols), sdy(cols), sdyx(cols);
    for (size_t i = 0; i < n; i++) sum[i % cols] += x[i], sq[i % cols] += (double)x[i] * x[i];
    for (unsigned j = 0; j < cols && rows; j++)
        mean[j] = sum[j] / rows, var[j] = std::fmax(sq[j] / rows - mean[j] * mean[j], 0.0);

    // column sums, accumulated onto start
    std::vector<float> sums = start;
    launch(first((unsigned long long)chunks * cols), threads,
           [&] { column_partials(part.data(), x.data(), nullptr, nullptr, nullptr, rows, cols, chunk, 0); });
    launch(first(cols), threads, [&] { column_sums_finish(sums.data(), part.data(), chunks, cols, 1); });
    for (unsigned j = 0; j < cols; j++) expect("column sums", rows, cols, sums[j], start[j] + sum[j]);
    if (rows < 2) return;

    // batch-norm statistics in training
    for (unsigned j = 0; j < cols; j++) running_mean[j] = 0.5f, running_var[j] = 1.5f;
    float eps = 1e-5f, momentum = 0.1f;
    launch(first((unsigned long long)chunks * cols), threads,
           [&] { column_partials(part.data(), x.data(), nullptr, nullptr, nullptr, rows, cols, chunk, 1); });
    launch(first(cols), threads, [&] {
        batch_norm_stats(saved.data(), running_mean.data(), running_var.data(), part.data(), chunks, rows, cols, eps,
                         momentum, 1);
    });
    for (unsigned j = 0; j < cols; j++) {
        expect("batch norm mean", rows, cols, saved[j], mean[j]);
        expect("batch norm 1/std", rows, cols, saved[cols + j], 1.0 / std::sqrt(var[j] + eps));
        expect("batch norm running mean", rows, cols, running_mean[j], 0.9 * 0.5 + 0.1 * mean[j]);
        expect("batch norm running var", rows, cols, running_var[j],
               0.9 * 1.5 + 0.1 * var[j] * rows / (rows - 1.0));
    }

    // the normalisation itself, with or without the ReLU after it
    std::vector<float> gamma(cols), beta(cols), out(n), dx(n);
    for (unsigned j = 0; j < cols; j++) gamma[j] = 0.5f + j % 3, beta[j] = 0.1f * (j % 5) - 0.2f;
    launch(first(n), threads, [&] {
        batch_norm_apply(out.data(), x.data(), gamma.data(), beta.data(), saved.data(), n, cols, relu);
    });
    for (size_t i = 0; i < n; i++) {
        unsigned j = i % cols;
        double v = gamma[j] * ((x[i] - mean[j]) / std::sqrt(var[j] + eps)) + beta[j];
        expect("batch norm output", rows, cols, out[i], relu ? std::fmax(v, 0.0) : v);
    }

    // batch-norm gradient sums, with the saved statistics just computed; through the ReLU,
    // dy counts only where its output y is above 0
    auto g = [&](size_t i) { return relu && y[i] <= 0.0f ? 0.0 : (double)dy[i]; };
    for (size_t i = 0; i < n; i++) {
        unsigned j = i % cols;
        sdy[j] += g(i);
        sdyx[j] += g(i) * ((x[i] - saved[j]) * (double)saved[cols + j]);
    }
    std::vector<float> gsums(2 * cols), d_gamma(cols, 1.0f), d_beta(cols, -1.0f);
    launch(first((unsigned long long)chunks * cols), threads,
           [&] { column_partials(part.data(), x.data(), dy.data(), saved.data(), relu ? y.data() : nullptr, rows, cols, chunk, 2); });
    launch(first(cols), threads,
           [&] { batch_norm_grad_sums(gsums.data(), d_gamma.data(), d_beta.data(), part.data(), chunks, cols); });
    for (unsigned j = 0; j < cols; j++) {
        expect("batch norm Σdy", rows, cols, gsums[j], sdy[j]);
        expect("batch norm Σdy·x̂", rows, cols, gsums[cols + j], sdyx[j]);
        expect("batch norm dβ", rows, cols, d_beta[j], sdy[j] - 1.0);
        expect("batch norm dγ", rows, cols, d_gamma[j], sdyx[j] + 1.0);
    }
    launch(first(n), threads, [&] {
        batch_norm_grad_input(dx.data(), dy.data(), x.data(), gamma.data(), saved.data(), gsums.data(),
                              relu ? y.data() : nullptr, n, cols);
    });
    for (size_t i = 0; i < n; i++) {
        unsigned j = i % cols;
        double inv = 1.0 / std::sqrt(var[j] + eps), xhat = (x[i] - mean[j]) * inv;
        double want = gamma[j] * inv / rows * (rows * g(i) - sdy[j] - xhat * sdyx[j]);
        // dx subtracts sums of rows terms: its rounding scales with them, not with dx
        double scale = gamma[j] * inv * (std::fabs(g(i)) + (std::fabs(sdy[j]) + std::fabs(sdyx[j])) / rows);
        if (!(std::fabs(dx[i] - want) <= 1e-5 * std::fmax(1.0, scale))) {
            if (failures < 20) std::printf("FAIL batch norm dx (%u × %u): got %.9g, want %.9g\n", rows, cols, dx[i], want);
            failures++;
        }
    }
}

// The emulated threads of a one-dimensional launch in reverse order, so that atomics hand out
// places in another order than the rows': what the sort after them must undo.
template <class F> static void launch_reversed(unsigned blocks, unsigned threads, F kernel) {
    gridDim = {blocks, 1, 1};
    blockDim = {threads, 1, 1};
    for (unsigned b = blocks; b-- > 0;)
        for (unsigned t = threads; t-- > 0;) {
            blockIdx = {b, 0, 0};
            threadIdx = {t, 0, 0};
            kernel();
        }
}

static void check_scatter(unsigned n, unsigned width, unsigned words, bool small_grid) {
    srand(n * 7 + width);
    std::vector<unsigned> ids(n);
    std::vector<float> src((size_t)n * width), table((size_t)words * width);
    for (auto& id : ids) id = (unsigned)(rand() % words) / (1 + rand() % 3);  // skewed: repeats
    if (n > 2) ids[1] = words + 5;  // outside the table: skipped
    for (auto& v : src) v = (float)rand() / RAND_MAX - 0.5f;
    for (auto& v : table) v = (float)rand() / RAND_MAX;
    std::vector<float> want = table;
    for (unsigned i = 0; i < n; i++)
        if (ids[i] < words)
            for (unsigned c = 0; c < width; c++) want[(size_t)ids[i] * width + c] += src[(size_t)i * width + c];
    unsigned m = words, chunk = (unsigned)std::ceil(std::sqrt((double)m));
    if (chunk < 32) chunk = 32;  // cuda/mod.rs's column_chunk
    unsigned chunks = (m + chunk - 1) / chunk;
    std::vector<unsigned> counts(m), cursor(m), totals(chunks), offsets(m + 1), index(n);
    unsigned threads = small_grid ? 5 : 256;
    auto blocks = [&](unsigned long long k) { return small_grid ? 3u : spread_blocks(k); };
    launch_reversed(blocks(n), threads, [&] { scatter_count(counts.data(), ids.data(), n, m); });
    launch(blocks(chunks), threads, [&] { scan_chunk_totals(totals.data(), counts.data(), m, chunk); });
    launch(1, 1, [&] { scan_totals(totals.data(), chunks); });
    launch(blocks(chunks), threads, [&] { scan_chunks(offsets.data(), counts.data(), totals.data(), m, chunk); });
    launch_reversed(blocks(n), threads,
                    [&] { scatter_place(index.data(), cursor.data(), offsets.data(), ids.data(), n, m); });
    launch(blocks(m), threads, [&] { scatter_sort_runs(index.data(), offsets.data(), m); });
    launch(blocks((unsigned long long)m * width), threads,
           [&] { scatter_add_runs(table.data(), src.data(), index.data(), offsets.data(), m, width); });
    for (size_t i = 0; i < table.size(); i++)
        if (std::memcmp(&table[i], &want[i], 4) != 0) {
            if (failures < 20)
                std::printf("FAIL scatter-add by destination (%u rows × %u): value %zu is %.9g, in row order %.9g\n",
                            n, width, i, table[i], want[i]);
            failures++;
        }
}

// max_pool2x2_backward against a scatter of dy by argmax into zeros, bit for bit (odd sizes: the
// last row and column get 0; a −0 gradient arrives as +0)
static void check_unpool(unsigned n, unsigned h, unsigned w, unsigned c, bool small_grid) {
    unsigned ph = h / 2, pw = w / 2;
    size_t pooled = (size_t)n * ph * pw * c, total = (size_t)n * h * w * c;
    std::vector<float> x(total), dy(pooled), dx(total, NAN32), want(total, 0.0f);
    std::vector<unsigned> argmax(pooled);
    srand(n * h * w + c);
    for (auto& v : x) v = (float)(rand() % 9);  // ties
    for (auto& v : dy) v = (float)rand() / RAND_MAX - 0.5f;
    dy[0] = -0.0f;
    size_t q = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned py = 0; py < ph; py++)
            for (unsigned px = 0; px < pw; px++)
                for (unsigned ch = 0; ch < c; ch++, q++) {
                    size_t r = ((size_t)i * h + 2 * py) * w + 2 * px, at[4] = {r, r + 1, r + w, r + w + 1};
                    size_t best = at[0] * c + ch;
                    for (size_t p : at)
                        if (x[p * c + ch] > x[best]) best = p * c + ch;
                    argmax[q] = (unsigned)best;
                    want[best] += dy[q];
                }
    launch(small_grid ? 3u : spread_blocks(total), small_grid ? 7 : 256,
           [&] { max_pool2x2_backward(dx.data(), dy.data(), argmax.data(), n, h, w, c); });
    for (size_t i = 0; i < total; i++)
        if (std::memcmp(&dx[i], &want[i], 4) != 0) {
            if (failures < 20) std::printf("FAIL max pool backward (%u×%u×%u×%u): value %zu is %g, scattered %g\n", n, h, w, c, i, dx[i], want[i]);
            failures++;
        }
}

// move_heads into heads from a stacked block against a plain walk over (sequence, head,
// position), then back into a block, which must return the columns it took bit for bit
static void check_heads(unsigned batch, unsigned words, unsigned entities, unsigned heads, unsigned d, bool small_grid) {
    unsigned h = heads * d, keys = words + entities, width = 3 * h, col = h;
    size_t rows = (size_t)batch * keys;
    std::vector<float> x(rows * width), split((size_t)batch * heads * keys * d, NAN32), merged(rows * h, NAN32);
    for (size_t i = 0; i < x.size(); i++) x[i] = (float)i * 0.5f - 7.0f;
    unsigned blocks = small_grid ? 3u : spread_blocks(split.size()), threads = small_grid ? 7 : 256;
    launch(blocks, threads, [&] { move_heads(split.data(), x.data(), width, col, batch, words, entities, heads, d, 1); });
    size_t at = 0;
    for (unsigned b = 0; b < batch; b++)
        for (unsigned hd = 0; hd < heads; hd++) {
            for (unsigned t = 0; t < keys; t++) {
                size_t row = t < words ? (size_t)b * words + t : (size_t)batch * words + (size_t)b * entities + t - words;
                for (unsigned j = 0; j < d; j++, at++)
                    if (std::memcmp(&split[at], &x[row * width + col + hd * d + j], 4) != 0) {
                        if (failures < 20) std::printf("FAIL split heads (B %u W %u N %u): value %zu\n", batch, words, entities, at);
                        failures++;
                    }
            }
        }
    std::vector<float> block(rows * h);  // the split's source columns alone
    for (size_t r = 0; r < rows; r++)
        for (unsigned j = 0; j < h; j++) block[r * h + j] = x[r * width + col + j];
    launch(blocks, threads, [&] { move_heads(split.data(), merged.data(), h, 0, batch, words, entities, heads, d, 0); });
    if (std::memcmp(merged.data(), block.data(), 4 * block.size()) != 0) {
        std::printf("FAIL merge heads (B %u W %u N %u): not the split's inverse\n", batch, words, entities);
        failures++;
    }
}

static void check_activations() {
    std::vector<float> xs;
    for (int i = -400; i <= 400; i++) xs.push_back(i / 37.0f);
    for (int act = 0; act < 4; act++) {
        std::vector<float> y = xs;
        launch(2, 7, [&] { activate(y.data(), y.size(), act); });
        for (size_t i = 0; i < xs.size(); i++) {
            double v = xs[i];
            double want = act == 0 ? 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)))
                        : act == 1 ? 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)))
                        : act == 2 ? std::fmax(v, 0.0)
                                   : std::tanh(v);
            expect("activation", act, (unsigned)i, y[i], want);
        }
    }
}

int main() {
    const unsigned shapes[][2] = {{0, 3}, {1, 5}, {2, 4}, {31, 2}, {33, 3}, {40, 125}, {200, 37},
                                  {1025, 9}, {100, 300}, {48400, 32}};
    for (auto& s : shapes)
        for (bool small_grid : {false, true})
            for (bool relu : {false, true}) check(s[0], s[1], small_grid, relu);
    for (bool small_grid : {false, true}) {
        check_unpool(3, 7, 9, 5, small_grid);
        check_unpool(2, 20, 28, 64, small_grid);
    }
    const unsigned scatters[][3] = {{1, 4, 3}, {7, 2, 3}, {700, 13, 50}, {4480, 3, 1000}, {50400, 4, 6600}};
    for (auto& s : scatters)
        for (bool small_grid : {false, true}) check_scatter(s[0], s[1], s[2], small_grid);
    const unsigned attention[][5] = {{1, 5, 0, 2, 3}, {2, 7, 2, 3, 4}, {3, 130, 2, 12, 64}, {4, 1, 3, 1, 8}};
    for (auto& a : attention)
        for (bool small_grid : {false, true}) check_heads(a[0], a[1], a[2], a[3], a[4], small_grid);
    check_activations();
    if (failures) {
        std::printf("%d emulated kernel values off\n", failures);
        return 1;
    }
    std::printf("kernels.cu: the column reductions, batch norm, the max pooling's backward, the "
                "scatter-add by destination, the attention's head split and merge and the activations, emulated on the CPU, match their references\n");
    return 0;
}
