// A C++ host that has its own class called falco_outputs (as Falco does) uses the library
// through <falco_outputs.hpp>: the C API in namespace falco_outputs_api, the same symbols.
// Checks that both names live side by side and that an alert goes through to a file.
// The host's own class of the same name, declared first as in Falco (whose falco_outputs.h
// comes before the library's header): with <falco_outputs.h> alone this would not compile.
class falco_outputs {
public:
	int channels() const { return 1; }
};

#include <falco_outputs.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace fo = falco_outputs_api;

static int failures = 0;
#define CHECK(cond)                                                                       \
	do {                                                                                  \
		if(!(cond)) {                                                                     \
			failures++;                                                                   \
			std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                 \
	} while(0)

int main() {
	char dir[] = "/tmp/fo-cxx-XXXXXX";
	CHECK(mkdtemp(dir) != nullptr);
	std::string path = std::string(dir) + "/alerts.txt";
	std::string yaml = "stdout_output: {enabled: false}\nsyslog_output: {enabled: false}\n"
	                   "file_output: {enabled: true, keep_alive: true, filename: " +
	                   path + "}\n";

	fo::falco_outputs_options options = {};
	options.config_yaml = yaml.c_str();
	options.hostname = "h";
	fo::falco_outputs *handle = nullptr;
	char err[256] = "";
	CHECK(fo::falco_outputs_init(&options, &handle, err, sizeof err) == fo::FALCO_OUTPUTS_OK);

	fo::falco_field fields[] = {{"proc.pid", "42", FALCO_FIELD_NUMBER}};
	const char *tags[] = {"t"};
	fo::falco_alert alert = {};
	alert.time_ns = 1470327477881781397ull;
	alert.priority = FALCO_PRIORITY_WARNING;
	alert.rule = "r";
	alert.message = "hello from C++";
	alert.fields = fields;
	alert.fields_len = 1;
	alert.tags = tags;
	alert.tags_len = 1;
	CHECK(fo::falco_outputs_emit(handle, &alert) == fo::FALCO_OUTPUTS_OK);
	CHECK(fo::falco_outputs_close(handle, 0) == fo::FALCO_OUTPUTS_OK);

	std::ifstream in(path);
	std::stringstream got;
	got << in.rdbuf();
	CHECK(got.str().find(": Warning hello from C++\n") != std::string::npos);
	CHECK(falco_outputs().channels() == 1);
	CHECK(std::string(fo::falco_outputs_result_str(fo::FALCO_OUTPUTS_ERR_CLOSED)).size() > 0);

	unlink(path.c_str());
	rmdir(dir);
	if(failures) {
		std::fprintf(stderr, "test_cxx_namespace: %d failure(s)\n", failures);
		return 1;
	}
	std::fprintf(stderr, "test_cxx_namespace: ok\n");
	return 0;
}
