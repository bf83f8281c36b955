// smh._core: the C++ library, bound for the Python package (python/smh). The
// package is a thin layer over this: every step of the protocol (create and
// attach with the element's identity, ownership, list/inspect/remove/orphans,
// termination cleanup and the watcher, waits, huge pages) is the C++
// library's. Linux only, as the package is.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>   // creation times
#include <cmath>    // NaN timeouts
#include <cstdint>  // pids, tokens
#include <memory>   // handles
#include <optional> // "no timeout", "no name"
#include <string>   // names, messages

#include <smh/shared_memory_handlee.hpp>

#include "elements.hpp"
#include "handle.hpp"

namespace py = pybind11;
using smh_python::handle;

namespace {

// The smh.Error (python/smh/_errors.py) for a C++ smh::error: its code, its
// message as C++ wrote it, and the OS's error number where there was one.
void set_python_error(const smh::error& e) {
    try {
        const auto native = e.native_code();
        py::object make = py::module_::import("smh._errors").attr("_from_cpp");
        py::object error = make(e.code().value(), e.what(),
                                native ? py::object(py::int_(native.value())) : py::none());
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
    } catch (py::error_already_set& failed) { failed.restore(); }
}

// What the second mapping is to Python: a buffer of the elements, which the
// handle's memoryviews and NumPy arrays keep (see handle.hpp).
class mapping {
public:
    mapping(std::unique_ptr<handle::second_mapping> m, bool read_only)
        : m_(std::move(m)),
          read_only_(read_only) {}
    std::size_t huge_page_bytes() const { return m_->huge_page_bytes(); }
    // For the elements object's bounds (elements.hpp): a growable segment's
    // live length word in this mapping, or None for a fixed segment.
    py::object length_word() const {
        if (m_->length_word() == nullptr) return py::none();
        // The capsule's context is the capacity, which bounds what it says.
        py::capsule word(m_->length_word(), smh_python::elements::length_word_capsule);
        if (PyCapsule_SetContext(word.ptr(), reinterpret_cast<void*>(m_->capacity())) != 0)
            throw py::error_already_set();
        return word;
    }
    py::buffer_info buffer() const {
        return py::buffer_info(m_->first(), 1, "B", 1, {static_cast<py::ssize_t>(m_->bytes())}, {1},
                               read_only_);
    }

private:
    std::unique_ptr<handle::second_mapping> m_;
    bool read_only_;
};

smh_python::element_type element_of(const std::string& type_name, std::size_t size,
                                    std::size_t align) {
    return {type_name, size, align};
}

py::dict info_dict(const smh::segment_info& info) {
    py::dict d;
    d["name"] = info.name;
    d["type_name"] = info.type_name;
    d["element_size"] = info.element_size;
    d["element_align"] = info.element_align;
    d["element_count"] = info.element_count;
    d["capacity"] = info.capacity;
    d["data_offset"] = info.data_offset;
    d["bytes"] = info.bytes;
    d["creator_pid"] = info.creator_pid;
    d["owner_pid"] = info.owner_pid;
    d["owner_start_time"] = info.owner_start_time;
    d["claimant"] = info.claimant;
    d["owner_alive"] = info.owner_alive;
    d["orphaned"] = info.orphaned;
    d["ready"] = info.ready;
    d["uid"] = info.uid;
    d["mode"] = info.mode;
    d["device"] = info.device;
    d["inode"] = info.inode;
    d["created_ns"] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(info.created.time_since_epoch())
            .count();
    return d;
}

py::list info_list(const std::vector<smh::segment_info>& infos) {
    py::list out;
    for (const auto& info : infos) out.append(info_dict(info));
    return out;
}

const char* reason_name(smh::skip_reason reason) {
    switch (reason) {
    case smh::skip_reason::not_smh: return "not_smh";
    case smh::skip_reason::unreadable: return "unreadable";
    case smh::skip_reason::changing: return "changing";
    }
    return "unknown";
}

const char* policy_name(smh::huge_page_policy policy) {
    switch (policy) {
    case smh::huge_page_policy::never: return "never";
    case smh::huge_page_policy::advise: return "advise";
    case smh::huge_page_policy::within_size: return "within_size";
    case smh::huge_page_policy::always: return "always";
    }
    return "never";
}

py::object owner_tuple(const std::optional<smh_python::owner_view>& owner) {
    if (!owner) return py::none();
    return py::make_tuple(owner->pid, owner->start_time, owner->token);
}

// A wait's timeout in seconds (nullopt: no limit), NaN refused.
std::optional<double> checked(std::optional<double> timeout) {
    if (timeout && std::isnan(*timeout)) throw py::value_error("timeout is NaN");
    return timeout;
}

// Between the slices of a wait, with the GIL: Python's signal handlers, so
// that Ctrl-C ends it (KeyboardInterrupt).
void run_signal_handlers() {
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

} // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "The C++ library smh, bound for the smh package (python/smh): not an API of its own.";

    py::register_exception_translator([](std::exception_ptr thrown) {
        try {
            if (thrown) std::rethrow_exception(thrown);
        } catch (const smh::error& e) {
            set_python_error(e);
        } catch (const smh_python::closed_error& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const smh_python::read_only_error& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        }
    });

    py::class_<mapping>(m, "Mapping", py::buffer_protocol())
        .def_buffer(&mapping::buffer)
        .def("huge_page_bytes", &mapping::huge_page_bytes)
        .def("length_word", &mapping::length_word);

    py::class_<handle>(m, "Handle")
        .def_static(
            "create",
            [](const std::optional<std::string>& name, std::size_t length,
               const std::string& type_name, std::size_t size, std::size_t align,
               unsigned permissions, bool reserve, bool populate, bool huge_pages,
               std::size_t capacity) {
                const smh::create_options options{.permissions = permissions,
                                                  .reserve = reserve,
                                                  .populate = populate,
                                                  .huge_pages = huge_pages,
                                                  .capacity = capacity};
                return handle::create(name, length, element_of(type_name, size, align), options);
            },
            py::arg("name"), py::arg("length"), py::arg("type_name"), py::arg("size"),
            py::arg("align"), py::arg("permissions"), py::arg("reserve"), py::arg("populate"),
            py::arg("huge_pages"), py::arg("capacity") = 0,
            py::call_guard<py::gil_scoped_release>())
        .def_static(
            "create_anonymous",
            [](std::size_t length, const std::string& type_name, std::size_t size,
               std::size_t align, unsigned permissions, bool reserve, bool populate,
               bool huge_pages, std::size_t capacity) {
                const smh::create_options options{.permissions = permissions,
                                                  .reserve = reserve,
                                                  .populate = populate,
                                                  .huge_pages = huge_pages,
                                                  .capacity = capacity};
                return handle::create_anonymous(length, element_of(type_name, size, align),
                                                options);
            },
            py::arg("length"), py::arg("type_name"), py::arg("size"), py::arg("align"),
            py::arg("permissions"), py::arg("reserve"), py::arg("populate"), py::arg("huge_pages"),
            py::arg("capacity") = 0, py::call_guard<py::gil_scoped_release>())
        .def_static(
            "attach_descriptor",
            [](int fd, const std::string& type_name, std::size_t size, std::size_t align,
               bool writable, bool populate, bool huge_pages) {
                smh::attach_options options;
                options.populate = populate;
                options.huge_pages = huge_pages;
                return handle::attach_descriptor(fd, element_of(type_name, size, align), writable,
                                                 options);
            },
            py::arg("fd"), py::arg("type_name"), py::arg("size"), py::arg("align"),
            py::arg("writable"), py::arg("populate"), py::arg("huge_pages"),
            py::call_guard<py::gil_scoped_release>())
        .def_static(
            "attach",
            [](const std::string& name, const std::string& type_name, std::size_t size,
               std::size_t align, bool writable, bool populate, bool huge_pages,
               const std::string& operation) {
                smh::attach_options options;
                options.populate = populate;
                options.huge_pages = huge_pages;
                return handle::attach(name, element_of(type_name, size, align), writable, options,
                                      operation);
            },
            py::arg("name"), py::arg("type_name"), py::arg("size"), py::arg("align"),
            py::arg("writable"), py::arg("populate"), py::arg("huge_pages"),
            py::arg("operation") = "attach", py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("name", &handle::name)
        .def_property_readonly("writable", &handle::writable)
        .def_property_readonly("descriptor", &handle::descriptor)
        .def_property_readonly("closed", &handle::closed)
        .def_property_readonly("count", &handle::count)
        .def_property_readonly("capacity", &handle::capacity)
        .def(
            "grow",
            [](handle& h, std::size_t length, std::optional<double> timeout) {
                return h.grow<py::gil_scoped_release>(length, checked(timeout),
                                                      run_signal_handlers);
            },
            py::arg("length"), py::arg("timeout"))
        .def(
            "wait_for_size",
            [](handle& h, std::size_t at_least, std::optional<double> timeout) {
                return h.wait_for_size<py::gil_scoped_release>(at_least, checked(timeout),
                                                               run_signal_handlers);
            },
            py::arg("at_least"), py::arg("timeout"))
        .def("is_owner", &handle::is_owner)
        .def("release", &handle::release, py::call_guard<py::gil_scoped_release>())
        .def("adopt", &handle::adopt, py::call_guard<py::gil_scoped_release>())
        .def("take_ownership", &handle::take_ownership, py::call_guard<py::gil_scoped_release>())
        .def("unlink", &handle::unlink, py::call_guard<py::gil_scoped_release>())
        .def("owner", [](handle& h) { return owner_tuple(h.owner()); })
        .def("hand_over", [](handle& h) { return owner_tuple(h.hand_over()); })
        .def(
            "receive",
            [](handle& h, std::int64_t pid, std::uint64_t start_time, std::uint64_t token,
               double patience) {
                const auto wait = std::chrono::milliseconds(static_cast<long>(patience * 1000));
                py::gil_scoped_release unlocked;
                h.receive({pid, start_time, token}, wait);
            },
            py::arg("pid"), py::arg("start_time"), py::arg("token"), py::arg("patience"))
        .def(
            "map_elements",
            [](const handle& h, bool populate, bool huge_pages) {
                smh::attach_options options;
                options.populate = populate;
                options.huge_pages = huge_pages;
                return std::make_unique<mapping>(h.map_elements(options), !h.writable());
            },
            py::arg("populate"), py::arg("huge_pages"), py::call_guard<py::gil_scoped_release>())
        .def(
            "wait",
            [](handle& h, std::size_t index, std::uint64_t old, std::optional<double> timeout) {
                return h.wait<py::gil_scoped_release>(index, old, checked(timeout),
                                                      run_signal_handlers);
            },
            py::arg("index"), py::arg("old"), py::arg("timeout"))
        .def("notify", &handle::notify, py::arg("index"), py::arg("all"))
        .def("close", [](handle& h) {
            h.begin_close();
            py::gil_scoped_release unlocked;
            h.finish_close();
        });

    m.def("list_segments", [] { return info_list(smh::list()); });
    m.def("list_directory", [] {
        const auto listing = smh::list_directory();
        py::list skipped;
        for (const auto& file : listing.skipped)
            skipped.append(py::make_tuple(file.name, reason_name(file.reason), file.bytes));
        return py::make_tuple(info_list(listing.segments), skipped);
    });
    m.def("inspect", [](const std::string& name) { return info_dict(smh::inspect(name)); });
    m.def("inspect_descriptor", [](int fd) { return info_dict(smh::inspect_descriptor(fd)); });
    // smh::send and smh::receive's protocol, for Python's handles: the
    // descriptor goes with the C++ library's marker; what comes back is
    // checked by attach_descriptor (python/smh/_handlee.py).
    m.def(
        "send_descriptor",
        [](int socket, int fd) {
            smh::detail::os::anonymous_segments::send(socket, fd,
                                                      {"send", smh::detail::segment_name()});
        },
        py::call_guard<py::gil_scoped_release>());
    m.def(
        "receive_descriptor",
        [](int socket) {
            return smh::detail::os::anonymous_segments::receive(
                       socket, {"receive", smh::detail::segment_name()})
                .release();
        },
        py::call_guard<py::gil_scoped_release>());
    m.def("remove", [](const std::string& name) { smh::remove(name); });
    m.def(
        "find_orphans", [] { return smh::find_orphans(); },
        py::call_guard<py::gil_scoped_release>());
    m.def(
        "remove_orphans", [] { return smh::remove_orphans(); },
        py::call_guard<py::gil_scoped_release>());
    m.def("cleanup_on_termination", [] { smh::cleanup_on_termination(); });
    m.def("watch_owned_segments", [] { return smh::watch_owned_segments(); });
    m.def("remove_owned_segments", [] { smh::remove_owned_segments(); });
    m.def("set_automatic_cleanup", [](bool termination, bool watcher) {
        smh_python::automatic_termination_cleanup.store(termination);
        smh_python::automatic_watcher.store(watcher);
    });
    m.def("automatic_cleanup", [] {
        return py::make_tuple(smh_python::automatic_termination_cleanup.load(),
                              smh_python::automatic_watcher.load());
    });
    m.def("huge_page_policy", [] { return policy_name(smh::segment_huge_page_policy()); });
    m.def("name_problem", [](const std::string& name) { return smh::detail::name_problem(name); });
    m.def("type_hash", [](const std::string& name) {
        return smh::detail::element_identity::named(name, 1, 1).hash;
    });
    m.def("parked_count", [] { return smh_python::parked().size(); });
    m.def(
        "wait_for_receivers",
        [](double seconds) {
            return smh_python::parked().wait_for_receivers(
                std::chrono::milliseconds(static_cast<long>(seconds * 1000)));
        },
        py::call_guard<py::gil_scoped_release>());
    m.def(
        "end_parked", [] { smh_python::parked().end_all(); },
        py::call_guard<py::gil_scoped_release>());
    m.attr("max_name_length") = smh::max_name_length;

    PyObject* elements = smh_python::elements::create_type();
    if (elements == nullptr) throw py::error_already_set();
    m.add_object("Elements", py::reinterpret_steal<py::object>(elements));
}
