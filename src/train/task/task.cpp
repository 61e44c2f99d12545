// The tasks by kind and name, and what every task's evaluation starts from.
#include "tasks.h"

#include <convnet/nn/layers/detect.h>

namespace convnet {

void Task::start(Evaluation& evaluation, std::int64_t classes) const {
    evaluation = Evaluation{};
    evaluation.task = kind();
    evaluation.classes = classes;
    evaluation.class_correct.assign(static_cast<std::size_t>(classes), 0);
    evaluation.class_total.assign(static_cast<std::size_t>(classes), 0);
    evaluation.confusion.assign(static_cast<std::size_t>(classes * classes), 0);
}

const Task& task_for(TaskKind kind) {
    static const ClassifyTask classify;
    static const SegmentTask segment;
    static const DetectTask detect;
    switch (kind) {
        case TaskKind::classify:
            return classify;
        case TaskKind::segment:
            return segment;
        case TaskKind::detect:
            return detect;
    }
    return classify;
}

std::optional<TaskKind> task_from_name(std::string_view name) {
    for (const TaskKind kind : {TaskKind::classify, TaskKind::segment, TaskKind::detect})
        if (task_for(kind).name() == name) return kind;
    return std::nullopt;
}

std::string_view task_name(TaskKind kind) { return task_for(kind).name(); }

std::optional<TaskKind> network_task(const Network& network) {
    if (network.layer_count() == 0) return std::nullopt;
    if (dynamic_cast<const Detect*>(&network.layer(network.layer_count() - 1)) != nullptr) return TaskKind::detect;
    const int rank = network.layer_plan(network.layer_count() - 1).output.rank();
    if (rank == 2) return TaskKind::classify;
    if (rank == 4) return TaskKind::segment;
    return std::nullopt;
}

}  // namespace convnet
