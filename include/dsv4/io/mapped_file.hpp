// dsv4/io/mapped_file.hpp — a read-only memory map of a whole file (zero copy).
//
// Checkpoint tensors are used in place: a tensor's bytes are a span of the mapping, and
// the mapping lives as long as the mapped_file (move-only). Errors name the file.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <dsv4/error.hpp>

namespace dsv4 {

class mapped_file {
public:
    mapped_file() = default;
    explicit mapped_file(std::string path) : path_(std::move(path)) {
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(path_, ": cannot open: ", std::strerror(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int err = errno;
            ::close(fd);
            fail(path_, ": cannot stat: ", std::strerror(err));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            fail(path_, ": not a regular file");
        }
        size_ = static_cast<size_t>(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int err = errno;
                ::close(fd);
                fail(path_, ": cannot map ", size_, " bytes: ", std::strerror(err));
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);  // the mapping keeps the file alive
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& o) noexcept { swap(o); }
    mapped_file& operator=(mapped_file&& o) noexcept {
        if (this != &o) {
            unmap();
            swap(o);
        }
        return *this;
    }
    ~mapped_file() { unmap(); }

    const std::string& path() const { return path_; }
    size_t size() const { return size_; }
    const std::byte* data() const { return data_; }
    std::span<const std::byte> bytes() const { return {data_, size_}; }

private:
    void unmap() noexcept {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
        data_ = nullptr;
        size_ = 0;
    }
    void swap(mapped_file& o) noexcept {
        std::swap(path_, o.path_);
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
    }
    std::string path_;
    const std::byte* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace dsv4
