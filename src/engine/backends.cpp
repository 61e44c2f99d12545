// The backend table: which executors this build has, the preferred first.
#include <convnet/core/error.h>
#include <convnet/nn/executor.h>

#include "onednn/onednn.h"
#include "reference/reference_executor.h"

#include <string>

namespace convnet {

namespace {

constexpr Backend kBackends[] = {
    {"onednn", "oneDNN primitives in blocked layouts, batch norm and ReLU fused (the layers of kFastPathTable)",
     engine::onednn::OnednnExecutor::create},
    // Chosen by name only: oneDNN's primitives where our kernels would run, to compare against them
    // or to rule them out (as torch.backends.mkldnn.enabled = False rules oneDNN out of PyTorch).
    {"onednn-only", "the onednn backend without our own kernels (src/kernels): oneDNN's primitives everywhere",
     [](const std::vector<LayerPlan>& layers, std::string& why_not) {
         return engine::onednn::OnednnExecutor::create(layers, why_not, engine::onednn::OwnKernels::never);
     },
     true},
    {"reference", "every layer's own plain code: runs any model", engine::create_reference_executor},
};

}  // namespace

void Executor::observe(const Tensor&, Tensor&, const ActivationObserver&) {
    throw Error("this backend cannot hand out every layer's activations: observe runs on the reference backend");
}

std::span<const Backend> backends() { return kBackends; }

std::string backend_names() {
    std::string names;
    for (const Backend& backend : kBackends) names += (names.empty() ? "" : ", ") + std::string(backend.name);
    return names;
}

const Backend* find_backend(std::string_view name) {
    for (const Backend& backend : kBackends)
        if (backend.name == name) return &backend;
    return nullptr;
}

}  // namespace convnet
