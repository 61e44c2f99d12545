// Any dataset folder convnet reads, by what it holds (docs/DATA.md): IDX files (MNIST,
// Fashion-MNIST; data.h), CIFAR-10 binary batches (cifar.h), an image folder (image_folder.h), a
// segmentation folder (segmentation_folder.h) or a detection folder (detection_folder.h); and a
// validation split held out of the training images.
#pragma once

#include <convnet/data/data.h>
#include <convnet/data/detection_folder.h>
#include <convnet/data/image_folder.h>
#include <convnet/data/segmentation_folder.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

enum class DatasetKind { idx, cifar10, image_folder, segmentation_folder, detection_folder };

// What `directory` holds: CIFAR-10 batches, a segmentation folder (train/images and train/masks),
// a detection folder (train/images and train/labels, the YOLO layout), an image folder
// (train/<class>/...), else IDX files (whose reader says, when they are missing, how to get
// them). A folder with both train/masks and train/labels is refused unless `task` says which.
// `task`, when given, overrides the recognition (--task): classify reads a folder holding
// train/images and train/masks as an image folder of two classes, and refuses a detection folder
// (its label files are no class folders); segment insists on a segmentation folder and detect on
// a detection folder (throws convnet::Error naming what is missing).
DatasetKind dataset_kind(const std::filesystem::path& directory, std::optional<TaskKind> task = std::nullopt);
// "IDX", "CIFAR-10", "image folder", "segmentation folder", "detection folder"
std::string dataset_kind_name(DatasetKind kind);

struct DataOptions {
    // For image, segmentation and detection folders: the model's input (channels, height, width), the resize
    // policy, the cache folder, skip_bad. Its val_split and split_seed hold for every kind.
    ImageFolderOptions images;
    std::optional<TaskKind> task;  // dataset_kind's override; none: by what the folder holds
};

// The "train", "val" or "test" split of the dataset in `directory`. "val" is an image folder's
// val/ folder, else the images.val_split share of the training images, held out per class
// (round(n·F) of a class's n images, at most n − 1, chosen by a shuffle seeded from split_seed
// and the class; the rest keep their order), and "train" is then what is left; segmentation and
// detection folders hold out by image. Throws convnet::Error as the kind's reader does, and for
// "val" without a val/ folder or a val_split. `skipped` receives the files --skip-bad left out,
// `warnings` what was read but deserves a word (a detection image without a label file).
Dataset load_dataset(const std::filesystem::path& directory, std::string_view split, const DataOptions& options,
                     std::vector<std::string>* skipped = nullptr, std::vector<std::string>* warnings = nullptr);

// Which images of `dataset` a val_split holds out (true), per class as load_dataset does.
std::vector<bool> held_out_images(const Dataset& dataset, double fraction, std::uint64_t seed);

}  // namespace convnet
