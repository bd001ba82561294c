"""nnserve's binary protocol from Python.

A connection starts with the preface b"NNSP" + the protocol version (4 bytes, big-endian);
then every frame is a 4-byte big-endian length and one protobuf message (`Request` from the
client, `Response` from the server, matched by `id`, answered in any order). The messages are
generated from proto/nnserve/wire.proto (ops/gen-proto.sh regenerates wire_pb2.py).

A `Client` is one connection and holds no global state; it is not thread-safe (use one per
thread). `submit` and `receive` pipeline requests; `predict` is one round trip.
"""
import socket
import struct

import numpy as np

from . import wire_pb2

__all__ = ["Client", "NNServeError", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
PREFACE = b"NNSP" + struct.pack(">I", PROTOCOL_VERSION)
MAX_FRAME_SIZE = 16 << 20


def _is_gap(value):
    """None, NaN (a gap in a numeric column) and pandas' NA / NaT are gaps."""
    if value is None:
        return True
    try:
        import pandas
        return bool(pandas.isna(value))
    except ImportError:
        return isinstance(value, float) and value != value
    except (TypeError, ValueError):
        return False


def _is_text(value):
    """Strings, and booleans, which a CSV spelled as text ("True"): the model learned them so."""
    return isinstance(value, (str, bool, np.bool_))


class NNServeError(Exception):
    """An error answer: `code` is the protocol's name for it ("INVALID_ARGUMENT", "NOT_FOUND",
    "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "UNAVAILABLE", "INTERNAL"), `message` says
    which value was wrong."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Client:
    def __init__(self, host="127.0.0.1", port=8500, timeout=30.0):
        """Connects and sends the preface. `timeout` (seconds) bounds every wait for an answer."""
        self.timeout = timeout
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.sendall(PREFACE)
        self._next_id = 1
        self._arrived = {}       # id -> Response that came while waiting for another id
        self._abandoned = set()  # ids whose wait timed out: their late answers are dropped
        self._buffer = bytearray()
        self._single_inputs = {}  # model -> its one input's name

    def close(self):
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    # Requests -----------------------------------------------------------------------------

    def submit(self, model, inputs, outputs=(), version=0, timeout_micros=0):
        """Sends a predict request without waiting; returns its id for `receive`. `inputs`: a
        2-D array (rows × features, or 1-D for one row) for a single-input model, or a dict of
        input name -> array."""
        request = wire_pb2.Request(id=self._take_id())
        predict = request.predict
        predict.model = model
        predict.version = version
        predict.timeout_micros = timeout_micros
        predict.outputs.extend(outputs)
        if not isinstance(inputs, dict):
            inputs = {"": inputs}
        for name, values in inputs.items():
            array = np.asarray(values, dtype=np.float32)
            if array.ndim == 1:
                array = array.reshape(1, -1)
            if array.ndim != 2:
                raise ValueError(f"input '{name}' has shape {array.shape}; expected [rows, features]")
            tensor = predict.inputs.add(name=name, shape=list(array.shape))
            tensor.data.extend(array.ravel().tolist())
        if "" in inputs:
            # The single input's name comes from the model: the server names it in errors.
            predict.inputs[0].name = self._single_input_name(model)
        self._send(request)
        return request.id

    def submit_rows(self, model, columns, outputs=(), version=0, timeout_micros=0, inputs=None):
        """Sends raw rows to a model taking raw rows (strings, gaps) without waiting; returns
        its id for `receive`. `columns`: a dict of column name -> sequence of one value per
        row: strings for a categorical column (None or "" for a gap), numbers for a numeric
        one (None or NaN for a gap; numbers written as strings are read too). `inputs`: the
        numeric inputs of a model that has both, as for `submit`."""
        request = wire_pb2.Request(id=self._take_id())
        predict = request.predict
        predict.model = model
        predict.version = version
        predict.timeout_micros = timeout_micros
        predict.outputs.extend(outputs)
        for name, values in columns.items():
            values = list(values.tolist() if hasattr(values, "tolist") else values)
            tensor = predict.inputs.add(name=name, shape=[len(values), 1])
            if any(_is_text(value) for value in values):
                tensor.text.extend("" if _is_gap(value) else str(value) for value in values)
            else:
                tensor.data.extend(float("nan") if _is_gap(value) else float(value) for value in values)
        for name, values in (inputs or {}).items():
            array = np.asarray(values, dtype=np.float32).reshape(len(values), -1)
            predict.inputs.add(name=name, shape=list(array.shape)).data.extend(array.ravel().tolist())
        self._send(request)
        return request.id

    def predict_rows(self, model, columns, outputs=(), version=0, timeout_micros=0):
        """One prediction of raw rows; see `submit_rows`. Returns like `predict`."""
        results = self.receive(self.submit_rows(model, columns, outputs, version, timeout_micros))
        return next(iter(results.values())) if len(results) == 1 else results

    def receive(self, request_id):
        """The outputs of a submitted prediction: a dict of output name -> float32 array
        [rows, width]. Raises NNServeError for an error answer, TimeoutError after `timeout`."""
        response = self._wait(request_id)
        return {tensor.name: np.asarray(tensor.data, dtype=np.float32).reshape(tuple(tensor.shape))
                for tensor in response.predict.outputs}

    def predict(self, model, inputs, outputs=(), version=0, timeout_micros=0):
        """One prediction; see `submit` for `inputs`. Returns the single output's array for a
        single-output model, else a dict of output name -> array."""
        results = self.receive(self.submit(model, inputs, outputs, version, timeout_micros))
        return next(iter(results.values())) if len(results) == 1 else results

    def predict_frame(self, model, frame, version=0):
        """Predictions for the rows of a table (a pandas DataFrame, or anything with `columns`
        and `to_numpy()`): its columns are split per input by the model's feature names, so the
        columns a model was trained on can come in any order, with extra columns ignored.
        Returns a DataFrame (one column per output value: `price`, or `label_0` … `label_9`)
        when pandas is installed, else a dict of output name -> array."""
        metadata = self.metadata(model, version)
        columns = list(frame.columns)
        if metadata.columns:
            # A model taking raw rows: its columns by name, strings and gaps as they are (and
            # its numeric inputs, if it has any, by their feature names).
            needed = [column.name for column in metadata.columns] + [name for tensor in metadata.inputs for name in tensor.feature_names]
            missing = [name for name in needed if name not in columns]
            if missing:
                raise ValueError(f"model '{model}' needs columns {missing}; the frame has {columns}")
            numeric = {tensor.name: frame[list(tensor.feature_names)].to_numpy(dtype=np.float32) for tensor in metadata.inputs}
            results = self.receive(self.submit_rows(model, {column.name: list(frame[column.name]) for column in metadata.columns},
                                                    version=version, inputs=numeric))
            return self._table(results, metadata, getattr(frame, "index", None))
        values = frame.to_numpy(dtype=np.float32) if hasattr(frame, "to_numpy") else np.asarray(frame, dtype=np.float32)
        inputs = {}
        for tensor in metadata.inputs:
            names = list(tensor.feature_names)
            if not names:
                raise ValueError(f"model '{model}' input '{tensor.name}' has no feature names; pass arrays to predict()")
            missing = [name for name in names if name not in columns]
            if missing:
                raise ValueError(f"model '{model}' input '{tensor.name}' needs columns {missing}; the frame has {columns}")
            inputs[tensor.name] = values[:, [columns.index(name) for name in names]]
        results = self.receive(self.submit(model, inputs, version=version))
        return self._table(results, metadata, getattr(frame, "index", None))

    @staticmethod
    def _table(results, metadata, index):
        """Outputs as a DataFrame (a `name_label` column too for a head with class names), or
        the dict of arrays without pandas."""
        try:
            import pandas
        except ImportError:
            return results
        labels = {tensor.name: list(tensor.labels) for tensor in metadata.outputs if tensor.labels}
        table = {}
        for name, array in results.items():
            if array.shape[1] == 1:
                table[name] = array[:, 0]
            else:
                for column in range(array.shape[1]):
                    table[f"{name}_{column}"] = array[:, column]
            if name in labels:
                classes = (array[:, 0] > 0.5).astype(int) if array.shape[1] == 1 else array.argmax(axis=1)
                table[f"{name}_label"] = [labels[name][c] for c in classes]
        return pandas.DataFrame(table, index=index)

    def metadata(self, model, version=0):
        """The model's `MetadataResponse`: versions, inputs and outputs (name, width, feature
        names), max_batch_size."""
        request = wire_pb2.Request(id=self._take_id())
        request.metadata.model = model
        request.metadata.version = version
        self._send(request)
        return self._wait(request.id).metadata

    def models(self):
        """[(name, [versions], ready)] of every served model."""
        request = wire_pb2.Request(id=self._take_id())
        request.list_models.SetInParent()
        self._send(request)
        return [(m.name, list(m.versions), m.ready) for m in self._wait(request.id).list_models.models]

    def health(self):
        """(live, ready)."""
        request = wire_pb2.Request(id=self._take_id())
        request.health.SetInParent()
        self._send(request)
        answer = self._wait(request.id).health
        return answer.live, answer.ready

    # Framing ------------------------------------------------------------------------------

    def _take_id(self):
        request_id = self._next_id
        self._next_id += 1
        return request_id

    def _single_input_name(self, model):
        if model not in self._single_inputs:
            metadata = self.metadata(model)
            if len(metadata.inputs) != 1:
                names = [tensor.name for tensor in metadata.inputs]
                raise ValueError(f"model '{model}' has inputs {names}; pass a dict of input name -> array")
            self._single_inputs[model] = metadata.inputs[0].name
        return self._single_inputs[model]

    def _send(self, request):
        payload = request.SerializeToString()
        self._socket.sendall(struct.pack(">I", len(payload)) + payload)

    def _wait(self, request_id):
        try:
            while request_id not in self._arrived:
                response = self._read_frame()
                if response.id in self._abandoned:
                    self._abandoned.discard(response.id)
                    continue
                if response.id == 0 and response.HasField("error"):
                    # About the connection itself (an undecodable frame, an idle timeout).
                    raise NNServeError(wire_pb2.ErrorCode.Name(response.error.code).replace("ERROR_CODE_", ""), response.error.message)
                self._arrived[response.id] = response
        except socket.timeout:
            self._abandoned.add(request_id)
            raise TimeoutError(f"no answer to request {request_id} within {self.timeout} s") from None
        response = self._arrived.pop(request_id)
        if response.HasField("error"):
            raise NNServeError(wire_pb2.ErrorCode.Name(response.error.code).replace("ERROR_CODE_", ""), response.error.message)
        return response

    def _fill(self, count):
        """Reads until `count` bytes are buffered; a timeout leaves what arrived buffered."""
        while len(self._buffer) < count:
            chunk = self._socket.recv(max(65536, count - len(self._buffer)))
            if not chunk:
                raise ConnectionError("nnserve closed the connection")
            self._buffer += chunk

    def _read_frame(self):
        # The length is consumed only with its whole frame: a timeout mid-frame keeps the
        # stream aligned for the next wait.
        self._fill(4)
        (length,) = struct.unpack(">I", self._buffer[:4])
        if length > MAX_FRAME_SIZE:
            raise ConnectionError(f"a frame of {length} bytes is over the {MAX_FRAME_SIZE}-byte limit")
        self._fill(4 + length)
        response = wire_pb2.Response()
        response.ParseFromString(bytes(self._buffer[4:4 + length]))
        del self._buffer[:4 + length]
        return response
