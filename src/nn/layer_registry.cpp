// The layer table and the option reader behind it. Each row turns one model-file line into a
// layer for a known input shape; input channels and features are taken from that shape.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/nn/layer_registry.h>
#include <convnet/nn/layers/add.h>
#include <convnet/nn/layers/avgpool2d.h>
#include <convnet/nn/layers/batchnorm.h>
#include <convnet/nn/layers/concat.h>
#include <convnet/nn/layers/conv2d.h>
#include <convnet/nn/layers/convtranspose2d.h>
#include <convnet/nn/layers/detect.h>
#include <convnet/nn/layers/dropout.h>
#include <convnet/nn/layers/flatten.h>
#include <convnet/nn/layers/gausspool2d.h>
#include <convnet/nn/layers/globalavgpool2d.h>
#include <convnet/nn/layers/l2pool2d.h>
#include <convnet/nn/layers/leakyrelu.h>
#include <convnet/nn/layers/linear.h>
#include <convnet/nn/layers/maxpool2d.h>
#include <convnet/nn/layers/pool_window.h>
#include <convnet/nn/layers/relu.h>
#include <convnet/nn/layers/sigmoid.h>
#include <convnet/nn/layers/softmax.h>
#include <convnet/nn/layers/tanh.h>
#include <convnet/nn/layers/upsample2d.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace convnet {

LayerOptions::LayerOptions(std::string type, std::map<std::string, std::string> values, std::string location)
    : type_(std::move(type)), values_(std::move(values)), location_(std::move(location)) {}

void LayerOptions::fail(const std::string& message) const { throw Error(location_ + ": " + type_ + ": " + message); }

bool LayerOptions::has(const std::string& key) const {
    if (std::find(asked_.begin(), asked_.end(), key) == asked_.end()) asked_.push_back(key);
    return values_.count(key) != 0;
}

const std::string* LayerOptions::lookup(const std::string& key) {
    has(key);
    auto found = values_.find(key);
    if (found == values_.end()) return nullptr;
    used_[key] = true;
    return &found->second;
}

namespace {
bool parse_integer(std::string_view text, std::int64_t& value) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}
}  // namespace

std::int64_t LayerOptions::integer(const std::string& key, std::optional<std::int64_t> fallback, std::int64_t minimum) {
    const std::string* text = lookup(key);
    if (text == nullptr) {
        if (!fallback) fail("option " + key + "= is required");
        return *fallback;
    }
    std::int64_t value = 0;
    if (!parse_integer(*text, value) || value < minimum || value > (std::int64_t{1} << 24))
        fail("option " + key + "=" + *text + ": expected an integer from " + std::to_string(minimum) + " to " +
             std::to_string(std::int64_t{1} << 24));
    return value;
}

std::pair<std::int64_t, std::int64_t> LayerOptions::pair(const std::string& key,
                                                         std::optional<std::pair<std::int64_t, std::int64_t>> fallback,
                                                         std::int64_t minimum) {
    const std::string* text = lookup(key);
    if (text == nullptr) {
        if (!fallback) fail("option " + key + "= is required");
        return *fallback;
    }
    const std::size_t cross = text->find('x');
    std::int64_t height = 0, width = 0;
    const bool parsed = cross == std::string::npos ? parse_integer(*text, height) && (width = height, true)
                                                   : parse_integer(std::string_view(*text).substr(0, cross), height) &&
                                                         parse_integer(std::string_view(*text).substr(cross + 1), width);
    const std::int64_t limit = std::int64_t{1} << 24;
    if (!parsed || height < minimum || width < minimum || height > limit || width > limit)
        fail("option " + key + "=" + *text + ": expected an integer (or HxW) of at least " + std::to_string(minimum));
    return {height, width};
}

double LayerOptions::real(const std::string& key, double fallback, double minimum, double maximum) {
    const std::string* text = lookup(key);
    if (text == nullptr) return fallback;
    double value = 0.0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (error != std::errc() || end != text->data() + text->size() || !std::isfinite(value) || value < minimum || value > maximum)
        fail("option " + key + "=" + *text + ": expected a number from " + number_text(minimum) + " to " + number_text(maximum));
    return value;
}

bool LayerOptions::boolean(const std::string& key, bool fallback) {
    const std::string* text = lookup(key);
    if (text == nullptr) return fallback;
    if (*text == "true" || *text == "1") return true;
    if (*text == "false" || *text == "0") return false;
    fail("option " + key + "=" + *text + ": expected true or false");
}

std::string LayerOptions::choice(const std::string& key, const std::vector<std::string>& allowed) {
    const std::string* text = lookup(key);
    if (text == nullptr) return allowed.front();
    std::string list;
    for (const std::string& word : allowed) {
        if (*text == word) return word;
        list += (list.empty() ? "" : "|") + word;
    }
    fail("option " + key + "=" + *text + ": expected " + list);
}

void LayerOptions::check_all_used() const {
    for (const auto& [key, value] : values_) {
        if (used_.count(key)) continue;
        const std::string nearest = nearest_name(key, asked_);
        std::string known;
        for (const std::string& asked : asked_) known += (known.empty() ? "" : ", ") + asked + "=";
        fail("unknown option '" + key + "=" + value + "'" + (nearest.empty() ? "" : " (did you mean " + nearest + "=?)") +
             (known.empty() ? "; it takes no options" : "; it takes " + known));
    }
}

namespace {

// Reads an optional in=/channels= statement and checks it against what flows in.
void check_declared_size(LayerOptions& options, const std::string& key, std::int64_t actual) {
    if (!options.has(key)) return;
    const std::int64_t declared = options.integer(key, std::nullopt, 1);
    if (declared != actual)
        options.fail(key + "=" + std::to_string(declared) + " but " + std::to_string(actual) + " flow in from the layer before (" + key +
                     "=" + std::to_string(actual) + " would fit)");
}

void require_rank(LayerOptions& options, const Shape& input, int rank, const char* hint) {
    if (input.rank() != rank)
        options.fail("expects an input of rank " + std::to_string(rank) + ", got " + input.with_batch(1).to_string() + hint);
}

// The options conv2d and convtranspose2d share: channels (in= as a check), out=, the window
// (kernel=, stride=1, pad=0, dilation=1), groups=1, bias=true. The layers' constructors check
// the combinations (groups dividing the channels), and plan_model puts FILE:LINE before them.
template <typename ConvolutionOptions>
void read_convolution(LayerOptions& options, const Shape& input, ConvolutionOptions& conv) {
    require_rank(options, input, 4, " (N, C, H, W)");
    conv.in_channels = input[1];
    check_declared_size(options, "in", input[1]);
    conv.out_channels = options.integer("out", std::nullopt, 1);
    std::tie(conv.kernel_height, conv.kernel_width) = options.pair("kernel", std::nullopt, 1);
    std::tie(conv.stride_height, conv.stride_width) = options.pair("stride", std::pair{1, 1}, 1);
    std::tie(conv.padding_height, conv.padding_width) = options.pair("pad", std::pair{0, 0}, 0);
    std::tie(conv.dilation_height, conv.dilation_width) = options.pair("dilation", std::pair{1, 1}, 1);
    conv.groups = options.integer("groups", 1, 1);
    conv.bias = options.boolean("bias", true);
}

std::unique_ptr<Layer> make_conv2d(LayerOptions& options, const Shape& input) {
    Conv2dOptions conv;
    read_convolution(options, input, conv);
    return std::make_unique<Conv2d>(conv);
}

std::unique_ptr<Layer> make_detect(LayerOptions& options, const Shape& input) {
    require_rank(options, input, 4, " (N, C, H, W): put detect after a convolution's feature maps");
    DetectOptions detect;
    detect.in_channels = input[1];
    detect.classes = options.integer("classes", std::nullopt, 1);
    detect.kernel_size = options.integer("kernel", 1, 1);
    detect.box_weight = options.real("box_weight", detect.box_weight, 0.0, 1e6);
    detect.objectness_weight = options.real("objectness_weight", detect.objectness_weight, 0.0, 1e6);
    detect.class_weight = options.real("class_weight", detect.class_weight, 0.0, 1e6);
    if (detect.kernel_size % 2 == 0)
        options.fail("option kernel=" + std::to_string(detect.kernel_size) + ": expected an odd size (1, 3, ...)");
    return std::make_unique<Detect>(detect);
}

std::unique_ptr<Layer> make_convtranspose2d(LayerOptions& options, const Shape& input) {
    ConvTranspose2dOptions conv;
    read_convolution(options, input, conv);
    std::tie(conv.output_padding_height, conv.output_padding_width) = options.pair("output_pad", std::pair{0, 0}, 0);
    return std::make_unique<ConvTranspose2d>(conv);
}

std::unique_ptr<Layer> make_batchnorm(LayerOptions& options, const Shape& input, int rank) {
    require_rank(options, input, rank, rank == 4 ? " (use batchnorm1d after linear)" : " (use batchnorm2d after conv2d)");
    BatchNormOptions batchnorm;
    batchnorm.channels = input[1];
    batchnorm.input_rank = rank;
    check_declared_size(options, "channels", input[1]);
    batchnorm.momentum = options.real("momentum", 0.1, 0.0, 1.0);
    batchnorm.eps = options.real("eps", 1e-5, 1e-12, 1.0);
    return std::make_unique<BatchNorm>(batchnorm);
}

// Reads kernel= (required), stride= (default: the kernel, as PyTorch) and pad= (at most half the
// kernel, as PyTorch) into the window of any pooling layer's options.
void read_pool_window(LayerOptions& options, const Shape& input, PoolWindow& pool) {
    require_rank(options, input, 4, " (N, C, H, W)");
    std::tie(pool.kernel_height, pool.kernel_width) = options.pair("kernel", std::nullopt, 1);
    std::tie(pool.stride_height, pool.stride_width) = options.pair("stride", std::pair{pool.kernel_height, pool.kernel_width}, 1);
    std::tie(pool.padding_height, pool.padding_width) = options.pair("pad", std::pair{0, 0}, 0);
    if (!pool.padding_fits()) options.fail("pad should be at most half of kernel");
}

// A pooling layer whose options are its window alone.
template <typename Pool, typename PoolOptions>
std::unique_ptr<Layer> make_window_pool(LayerOptions& options, const Shape& input) {
    PoolOptions pool;
    read_pool_window(options, input, pool);
    return std::make_unique<Pool>(pool);
}

std::unique_ptr<Layer> make_avgpool2d(LayerOptions& options, const Shape& input) {
    AvgPool2dOptions pool;
    read_pool_window(options, input, pool);
    pool.count_include_pad = options.boolean("count_pad", true);
    return std::make_unique<AvgPool2d>(pool);
}

std::unique_ptr<Layer> make_gausspool2d(LayerOptions& options, const Shape& input) {
    GaussPool2dOptions pool;
    read_pool_window(options, input, pool);
    pool.sigma = options.real("sigma", GaussPool2d::default_sigma(pool.kernel_height, pool.kernel_width), 1e-3, 1e6);
    return std::make_unique<GaussPool2d>(pool);
}

std::unique_ptr<Layer> make_globalavgpool2d(LayerOptions& options, const Shape& input) {
    require_rank(options, input, 4, " (N, C, H, W)");
    return std::make_unique<GlobalAvgPool2d>();
}

std::unique_ptr<Layer> make_softmax(LayerOptions& options, const Shape& input) {
    if (input.rank() < 2) options.fail("expects an input with a feature axis, got " + input.with_batch(1).to_string());
    return std::make_unique<Softmax>();
}

std::unique_ptr<Layer> make_upsample2d(LayerOptions& options, const Shape& input) {
    require_rank(options, input, 4, " (N, C, H, W)");
    Upsample2dOptions upsample;
    std::tie(upsample.scale_height, upsample.scale_width) = options.pair("scale", std::nullopt, 1);
    upsample.bilinear = options.choice("mode", {"nearest", "bilinear"}) == "bilinear";
    return std::make_unique<Upsample2d>(upsample);
}

std::unique_ptr<Layer> make_linear(LayerOptions& options, const Shape& input) {
    if (input.rank() != 2)
        options.fail("expects a flat input (N, features), got " + input.with_batch(1).to_string() + "; put a flatten line before it");
    LinearOptions linear;
    linear.in_features = input[1];
    check_declared_size(options, "in", input[1]);
    linear.out_features = options.integer("out", std::nullopt, 1);
    linear.bias = options.boolean("bias", true);
    return std::make_unique<Linear>(linear);
}

// One row per layer type: model-file name, file pair, automatic-name prefix, description, factory.
const std::array kLayerTypes{
    LayerType{"conv2d", "conv2d", "conv", "2-D convolution: out=C kernel=F [stride=S] [pad=P] [dilation=D] [groups=G] [bias=true|false]",
              make_conv2d},
    LayerType{"convtranspose2d", "convtranspose2d", "deconv",
              "transposed convolution (learned upsampling), as nn.ConvTranspose2d: out=C kernel=F [stride=S] [pad=P] [output_pad=A] "
              "[dilation=D] [groups=G] [bias=true|false]",
              make_convtranspose2d},
    LayerType{"batchnorm2d", "batchnorm", "bn", "batch normalisation per channel of (N, C, H, W) [momentum=0.1] [eps=1e-5]",
              [](LayerOptions& o, const Shape& s) { return make_batchnorm(o, s, 4); }},
    LayerType{"batchnorm1d", "batchnorm", "bn", "batch normalisation per feature of (N, F) [momentum=0.1] [eps=1e-5]",
              [](LayerOptions& o, const Shape& s) { return make_batchnorm(o, s, 2); }},
    LayerType{"relu", "relu", "relu", "rectified linear unit max(0, x)",
              [](LayerOptions&, const Shape&) -> std::unique_ptr<Layer> { return std::make_unique<ReLU>(); }},
    LayerType{"sigmoid", "sigmoid", "sigmoid", "logistic sigmoid 1/(1+exp(-x))",
              [](LayerOptions&, const Shape&) -> std::unique_ptr<Layer> { return std::make_unique<Sigmoid>(); }},
    LayerType{"tanh", "tanh", "tanh", "hyperbolic tangent",
              [](LayerOptions&, const Shape&) -> std::unique_ptr<Layer> { return std::make_unique<Tanh>(); }},
    LayerType{"leakyrelu", "leakyrelu", "leakyrelu", "leaky ReLU, x if x > 0 else slope*x: [slope=0.01]",
              [](LayerOptions& o, const Shape&) -> std::unique_ptr<Layer> {
                  return std::make_unique<LeakyReLU>(LeakyReLUOptions{o.real("slope", 0.01, -1e6, 1e6)});
              }},
    LayerType{"softmax", "softmax", "softmax", "softmax over axis 1 (features or channels): probabilities summing to 1", make_softmax},
    LayerType{"maxpool2d", "maxpool2d", "pool", "max pooling: kernel=F [stride=F] [pad=0]", make_window_pool<MaxPool2d, MaxPool2dOptions>},
    LayerType{"avgpool2d", "avgpool2d", "pool", "average pooling: kernel=F [stride=F] [pad=0] [count_pad=true|false]", make_avgpool2d},
    LayerType{"l2pool2d", "l2pool2d", "pool", "L2-norm pooling, sqrt of the sum of squares: kernel=F [stride=F] [pad=0]",
              make_window_pool<L2Pool2d, L2Pool2dOptions>},
    LayerType{"gausspool2d", "gausspool2d", "pool", "Gaussian-weighted average pooling: kernel=F [stride=F] [pad=0] [sigma=max(F)/2]",
              make_gausspool2d},
    LayerType{"globalavgpool2d", "globalavgpool2d", "pool", "mean of each feature map: (N, C, H, W) to (N, C, 1, 1)", make_globalavgpool2d},
    LayerType{"dropout", "dropout", "dropout", "inverted dropout in training, identity in evaluation: [p=0.5]",
              [](LayerOptions& o, const Shape&) -> std::unique_ptr<Layer> {
                  return std::make_unique<Dropout>(DropoutOptions{o.real("p", 0.5, 0.0, 1.0)});
              }},
    LayerType{"flatten", "flatten", "flatten", "(N, C, H, W) to (N, C*H*W)",
              [](LayerOptions&, const Shape&) -> std::unique_ptr<Layer> { return std::make_unique<Flatten>(); }},
    LayerType{"linear", "linear", "fc", "fully connected: out=F [bias=true|false]", make_linear},
    LayerType{"upsample2d", "upsample2d", "upsample",
              "upsampling by whole factors, as nn.Upsample: scale=S [mode=nearest|bilinear] (align_corners=False)", make_upsample2d},
    LayerType{"add", "add", "add", "elementwise sum of two or more inputs of one shape (a residual shortcut): from=A,B",
              [](LayerOptions& o, const Shape&) -> std::unique_ptr<Layer> {
                  return std::make_unique<Add>(static_cast<int>(o.input_shapes().size()));
              }},
    LayerType{"detect", "detect", "detect",
              "detection head, a convolution scoring each grid cell's box, objectness and classes (docs/DETECTION.md): classes=K "
              "[kernel=1] [box_weight=5] [objectness_weight=1] [class_weight=1]",
              make_detect},
    LayerType{"concat", "concat", "concat", "joins two or more inputs along channels, as torch.cat(dim=1): from=A,B",
              [](LayerOptions&, const Shape&) -> std::unique_ptr<Layer> { return std::make_unique<Concat>(); }},
};

}  // namespace

std::span<const LayerType> layer_types() { return kLayerTypes; }

const LayerType* find_layer_type(std::string_view name) {
    for (const LayerType& type : kLayerTypes)
        if (type.name == name) return &type;
    return nullptr;
}

}  // namespace convnet
