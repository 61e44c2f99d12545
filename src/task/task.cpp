// The tasks by kind and name, and what every task's evaluation starts from.
#include "tasks.h"

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

}  // namespace convnet
